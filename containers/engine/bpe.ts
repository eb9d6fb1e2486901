// Training a small byte-level BPE tokenizer (GPT-2 style) and writing it as a Hugging Face
// tokenizer.json, which @huggingface/tokenizers then loads like any hub tokenizer.

// GPT-2's split of text into words before merging; the ByteLevel pre-tokenizer uses the same.
const SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's bytes_to_unicode: printable stand-ins for the 256 byte values. */
export function byteToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map: string[] = new Array(256);
  for (const b of bs) map[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
}

/** Learn merges until the vocabulary (one special token + 256 bytes + merges) has vocabSize entries. */
export function trainBpe(text: string, vocabSize: number, special = "<|endoftext|>"): Record<string, unknown> {
  const b2u = byteToUnicode(), enc = new TextEncoder();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(SPLIT)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  const words = [...counts].map(([w, c]) => ({ syms: Array.from(enc.encode(w), (b) => b2u[b]!), c }));
  const vocab: Record<string, number> = { [special]: 0 };
  b2u.forEach((u, i) => (vocab[u] = i + 1));
  const merges: string[] = [];
  while (Object.keys(vocab).length < vocabSize) {
    const pairs = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.syms.length; i++) {
      const k = w.syms[i] + " " + w.syms[i + 1];
      pairs.set(k, (pairs.get(k) ?? 0) + w.c);
    }
    let bestK = "", bestC = 0;
    for (const [k, c] of pairs) if (c > bestC || (c === bestC && k < bestK)) { bestK = k; bestC = c; }
    if (bestC < 2) break;
    const [a, b] = bestK.split(" ") as [string, string];
    merges.push(bestK);
    vocab[a + b] = Object.keys(vocab).length;
    for (const w of words) {
      const s = w.syms, out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { out.push(a + b); i++; } else out.push(s[i]!);
      }
      w.syms = out;
    }
  }
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id: 0, content: special, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
}
