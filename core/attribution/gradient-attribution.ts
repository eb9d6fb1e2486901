// Gradient attribution: how well a call's projected answer-loss gradient lines up with each
// training record's projected training-loss gradient (TracIn at the final checkpoint, on
// sketches). Cosine similarity, so a record's length or loss scale does not decide. Optionally
// about the records' mean sketch (`centre`), so that the direction every record's gradient
// shares (the answer format all records of a template train) does not decide either.

export interface GradientOptions {
  /** A record counts only when its cosine with the call is at least this. */
  minCosine: number;
  /** At most this many records keep a score (the rest of the tail is noise). */
  topK: number;
  /**
   * Subtract the records' mean sketch from each record's and from the call's before the cosine.
   * The projection is linear, so this is the cosine of the gradients about the records' mean
   * gradient; the mean follows from the sketch file alone.
   */
  centre: boolean;
}

// Plain cosine ≥ 0.1, chosen on the planted facts' tuning paraphrases (data seed 1) with the
// sketches at k = 2048 and the call's margin gradient: 0.875 against 0.850 at 0.2, the trained
// wording 1.000 at both; about the records' mean gave the same (docs/benchmarks.md, "Gradient
// attribution: which gradients"). At k = 256, 0.2 had been best: below it the projection's noise
// let in records that only looked alike.
export const DEFAULT_GRADIENT_OPTIONS: GradientOptions = { minCosine: 0.1, topK: 32, centre: false };

/** Training records' sketches: one row of k per record, in the span index's record order. */
export interface SketchSet {
  k: number;
  seed: number;
  sketches: Float32Array; // (records, k) row-major
}

/** Per sketch array: the records' mean sketch, and each record's norm about it (computed once per loaded file). */
const centred = new WeakMap<Float32Array, { mean: Float64Array; norms: Float64Array }>();

function centring(set: SketchSet): { mean: Float64Array; norms: Float64Array } {
  let c = centred.get(set.sketches);
  if (c) return c;
  const { k, sketches } = set, n = Math.floor(sketches.length / k);
  const mean = new Float64Array(k), norms = new Float64Array(n);
  for (let r = 0; r < n; r++) for (let i = 0; i < k; i++) mean[i]! += sketches[r * k + i]!;
  if (n > 0) for (let i = 0; i < k; i++) mean[i]! /= n;
  for (let r = 0; r < n; r++) {
    let nn = 0;
    for (let i = 0; i < k; i++) { const v = sketches[r * k + i]! - mean[i]!; nn += v * v; }
    norms[r] = Math.sqrt(nn);
  }
  c = { mean, norms };
  centred.set(sketches, c);
  return c;
}

/** Cosine of the query sketch with every record's (about the records' mean when `centre` is on); the topK records at or above minCosine. */
export function scoreSketches(set: SketchSet, query: Float32Array, options: Partial<GradientOptions> = {}): Map<number, number> {
  const opts = { ...DEFAULT_GRADIENT_OPTIONS, ...options };
  const { k, sketches } = set;
  if (query.length !== k) throw new RangeError(`query sketch has ${query.length} numbers, the records' have ${k}`);
  const c = opts.centre ? centring(set) : null;
  const q = new Float64Array(k);
  for (let i = 0; i < k; i++) q[i] = query[i]! - (c ? c.mean[i]! : 0);
  let qn = 0;
  for (let i = 0; i < k; i++) qn += q[i]! * q[i]!;
  qn = Math.sqrt(qn);
  const scored: Array<[number, number]> = [];
  if (!(qn > 0)) return new Map();
  for (let r = 0; r * k < sketches.length; r++) {
    let dot = 0, nn = 0;
    for (let i = 0; i < k; i++) {
      const v = sketches[r * k + i]! - (c ? c.mean[i]! : 0);
      dot += v * q[i]!;
      nn += v * v;
    }
    const norm = c ? c.norms[r]! : Math.sqrt(nn);
    const cos = norm > 0 ? dot / (norm * qn) : 0;
    if (cos >= opts.minCosine) scored.push([r, cos]);
  }
  scored.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return new Map(scored.slice(0, opts.topK));
}
