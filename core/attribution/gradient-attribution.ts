// Gradient attribution: how well a call's projected answer-loss gradient lines up with each
// training record's projected training-loss gradient (TracIn at the final checkpoint, on
// sketches). Cosine similarity, so a record's length or loss scale does not decide.

export interface GradientOptions {
  /** A record counts only when its cosine with the call is at least this. */
  minCosine: number;
  /** At most this many records keep a score (the rest of the tail is noise). */
  topK: number;
}

export const DEFAULT_GRADIENT_OPTIONS: GradientOptions = { minCosine: 0.2, topK: 32 };

/** Training records' sketches: one row of k per record, in the span index's record order. */
export interface SketchSet {
  k: number;
  seed: number;
  sketches: Float32Array; // (records, k) row-major
}

/** Cosine of the query sketch with every record's; the topK records at or above minCosine. */
export function scoreSketches(set: SketchSet, query: Float32Array, options: Partial<GradientOptions> = {}): Map<number, number> {
  const opts = { ...DEFAULT_GRADIENT_OPTIONS, ...options };
  const { k, sketches } = set;
  if (query.length !== k) throw new RangeError(`query sketch has ${query.length} numbers, the records' have ${k}`);
  const qn = Math.hypot(...query);
  const scored: Array<[number, number]> = [];
  if (!(qn > 0)) return new Map();
  for (let r = 0; r * k < sketches.length; r++) {
    let dot = 0, nn = 0;
    for (let i = 0; i < k; i++) {
      const v = sketches[r * k + i]!;
      dot += v * query[i]!;
      nn += v * v;
    }
    const cos = nn > 0 ? dot / (Math.sqrt(nn) * qn) : 0;
    if (cos >= opts.minCosine) scored.push([r, cos]);
  }
  scored.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return new Map(scored.slice(0, opts.topK));
}
