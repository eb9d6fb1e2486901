// AdamW with decoupled weight decay, a warmup + cosine learning-rate schedule, and global-norm
// gradient clipping.
import type { Arr } from "./ops.ts";

/** Learning rate at `step` (0-based): linear warmup to `lr`, then cosine decay to lr·minRatio. */
export function lrAt(step: number, total: number, lr: number, warmup: number, minRatio: number): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return lr * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Scale all grads so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(grads: Arr[], maxNorm: number): number {
  let ss = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) ss += g[i]! * g[i]!;
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = g[i]! * s;
  }
  return norm;
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** AdamW state for a fixed list of parameters: first and second moments, step count. */
export class AdamW {
  m: Float32Array[];
  v: Float32Array[];
  t = 0;
  readonly opts: AdamWOptions;
  constructor(sizes: number[], opts: AdamWOptions) {
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
    this.opts = opts;
  }
  /** One update: p −= lr·(m̂/(√v̂+eps) + wd·p), with wd only where decay[i] is true. */
  step(params: Arr[], grads: Arr[], lr: number, decay: boolean[]): void {
    const { beta1, beta2, eps, weightDecay } = this.opts;
    this.t++;
    const c1 = 1 - Math.pow(beta1, this.t), c2 = 1 - Math.pow(beta2, this.t);
    params.forEach((p, k) => {
      const g = grads[k]!, m = this.m[k]!, v = this.v[k]!, wd = decay[k] ? weightDecay : 0;
      for (let i = 0; i < p.length; i++) {
        m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
        v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
        p[i] = p[i]! - (lr * (m[i]! / c1 / (Math.sqrt(v[i]! / c2) + eps) + wd * p[i]!));
      }
    });
  }
}
