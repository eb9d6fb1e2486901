// Next-token sampling from logits: greedy (temperature 0), temperature, nucleus (top-p), seeded.
import { Rng } from "./rng.ts";

export interface SamplingParams {
  temperature: number; // 0 = greedy
  topP: number; // nucleus mass in (0, 1]; 1 = off
  seed: number;
}

/** Validate sampling params, throwing RangeError with the reason. */
export function checkSampling(p: SamplingParams): void {
  if (!(p.temperature >= 0 && p.temperature <= 10)) throw new RangeError(`temperature must be in [0, 10], got ${p.temperature}`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new RangeError(`top_p must be in (0, 1], got ${p.topP}`);
}

/** A sampler for one sequence; its Rng makes a seeded run reproducible whatever the batch is. */
export class Sampler {
  readonly params: SamplingParams;
  readonly rng: Rng;
  #probs = new Float64Array(0);
  #idx = new Int32Array(0);
  constructor(params: SamplingParams) {
    checkSampling(params);
    this.params = params;
    this.rng = new Rng(params.seed);
  }
  /** Pick the next token from one row of logits. */
  sample(logits: Float32Array): number {
    const V = logits.length;
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
    if (this.params.temperature === 0) return best;
    if (this.#probs.length !== V) { this.#probs = new Float64Array(V); this.#idx = new Int32Array(V); }
    const p = this.#probs, max = logits[best]!;
    let sum = 0;
    for (let i = 0; i < V; i++) sum += p[i] = Math.exp((logits[i]! - max) / this.params.temperature);
    let n = V;
    const idx = this.#idx;
    for (let i = 0; i < V; i++) idx[i] = i;
    if (this.params.topP < 1) {
      // keep the smallest set of most likely tokens whose mass reaches topP
      const sorted = Array.from(idx).sort((a, b) => p[b]! - p[a]! || a - b);
      let mass = 0;
      n = 0;
      for (const i of sorted) { idx[n++] = i; mass += p[i]! / sum; if (mass >= this.params.topP) break; }
      sum = 0;
      for (let k = 0; k < n; k++) sum += p[idx[k]!]!;
    }
    let r = this.rng.next() * sum;
    for (let k = 0; k < n; k++) { r -= p[idx[k]!]!; if (r <= 0) return idx[k]!; }
    return idx[n - 1]!;
  }
}
