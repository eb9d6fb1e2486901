// Packing records into fixed-length training sequences.
//
// packRecords: nanoGPT's way, for pretraining on running text: records are joined with EOS into
// one stream, cut into rows of seqLen+1 tokens (inputs are the first seqLen, targets the last
// seqLen), and attention is not masked at record boundaries.
//
// packDocuments: the fine-tuning way (as TRL's padding-free packing): every record is its own
// document [BOS] tokens [EOS]; documents share a row but not attention (`starts` makes the
// causal mask block-diagonal) and each restarts at position 0, as its prompt does at inference.
// A target is trained only where its record's loss mask says so (completion-only loss).

export interface Sequence {
  tokens: Int32Array; // (T) inputs
  targets: Int32Array; // (T) next tokens; −1 where no loss is taken
  /**
   * (T) first row position of the document token t belongs to: t attends to positions
   * starts[t]..t only, at RoPE position t − starts[t]. Absent: one document from 0.
   */
  starts?: Int32Array;
}

/** A tokenized record; `loss[i]` = 0 leaves token i untrained (a prompt token). Absent: all trained. */
export interface TokenizedRecord {
  tokens: Int32Array;
  loss?: Uint8Array;
}

/** Pack token records into sequences of seqLen; the tail is padded with ignored targets. */
export function packRecords(records: Iterable<ArrayLike<number>>, seqLen: number, eos: number | null): Sequence[] {
  checkSeqLen(seqLen);
  const stream: number[] = [];
  for (const r of records) {
    if (r.length === 0) continue;
    for (let i = 0; i < r.length; i++) stream.push(r[i]!);
    if (eos !== null) stream.push(eos);
  }
  const out: Sequence[] = [];
  for (let start = 0; start + 1 < stream.length; start += seqLen) {
    const tokens = new Int32Array(seqLen), targets = new Int32Array(seqLen).fill(-1);
    const n = Math.min(seqLen, stream.length - 1 - start);
    for (let i = 0; i < n; i++) {
      tokens[i] = stream[start + i]!;
      targets[i] = stream[start + i + 1]!;
    }
    out.push(n === seqLen ? { tokens, targets } : { tokens: tokens.subarray(0, n), targets: targets.subarray(0, n) });
  }
  return out;
}

/**
 * Pack records as separate documents into rows of at most seqLen positions. A document of
 * L tokens (BOS and EOS included) fills L−1 positions (inputs doc[0..L−2], targets doc[1..L−1]);
 * it goes whole into the current row when it fits, else starts a new row; one longer than a row
 * is cut into row-sized documents. EOS is trained when the record's last token is. Rows are as
 * long as their content (no padding); a row with no trained target is left out.
 */
export function packDocuments(records: Iterable<TokenizedRecord>, seqLen: number, special: { bos: number | null; eos: number | null }): Sequence[] {
  checkSeqLen(seqLen);
  const rows: Sequence[] = [];
  let tokens: number[] = [], targets: number[] = [], starts: number[] = [];
  const flush = () => {
    // a row with nothing to learn (all prompt) would only cost a forward pass
    if (targets.some((y) => y >= 0)) rows.push({ tokens: Int32Array.from(tokens), targets: Int32Array.from(targets), starts: Int32Array.from(starts) });
    tokens = [];
    targets = [];
    starts = [];
  };
  for (const r of records) {
    const n = r.tokens.length;
    if (n === 0) continue;
    if (r.loss && r.loss.length !== n) throw new RangeError(`loss mask of ${r.loss.length} for ${n} tokens`);
    // the document and, per token, whether it is trained as a target
    const doc: number[] = [], trained: boolean[] = [];
    if (special.bos !== null) { doc.push(special.bos); trained.push(false); }
    for (let i = 0; i < n; i++) { doc.push(r.tokens[i]!); trained.push(r.loss ? r.loss[i] === 1 : true); }
    if (special.eos !== null) { doc.push(special.eos); trained.push(r.loss ? r.loss[n - 1] === 1 : true); }
    // cut into pieces of at most seqLen positions (seqLen + 1 tokens, overlapping by one)
    for (let from = 0; from + 1 < doc.length; from += seqLen) {
      const len = Math.min(seqLen, doc.length - 1 - from);
      if (tokens.length + len > seqLen) flush();
      const start = tokens.length;
      for (let i = 0; i < len; i++) {
        tokens.push(doc[from + i]!);
        targets.push(trained[from + i + 1] ? doc[from + i + 1]! : -1);
        starts.push(start);
      }
    }
  }
  flush();
  return rows;
}

function checkSeqLen(seqLen: number): void {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new RangeError(`seqLen must be an integer ≥ 2, got ${seqLen}`);
}
