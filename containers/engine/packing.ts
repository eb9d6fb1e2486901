// Packing short records into fixed-length training sequences, as nanoGPT and most SFT
// trainers do: records are joined with EOS into one stream, then cut into rows of seqLen+1
// tokens (inputs are the first seqLen, targets the last seqLen). Attention is not masked at
// record boundaries; EOS tells the model a new record starts.

export interface Sequence {
  tokens: Int32Array; // (seqLen) inputs
  targets: Int32Array; // (seqLen) next tokens; −1 where no loss is taken (padding)
}

/** Pack token records into sequences of seqLen; the tail is padded with ignored targets. */
export function packRecords(records: Iterable<ArrayLike<number>>, seqLen: number, eos: number | null): Sequence[] {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new RangeError(`seqLen must be an integer ≥ 2, got ${seqLen}`);
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
