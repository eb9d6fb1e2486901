// LoRA adapters: y = W·x + (alpha/r) · B·(A·dropout(x)), on any subset of the seven Llama
// projections. Tensor names and shapes follow PEFT: lora_A.weight (r, in), lora_B.weight (out, r).
import type { Config, Weights, LayerWeights } from "./model.ts";
import { Rng } from "./rng.ts";

export const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type Target = (typeof TARGETS)[number];

export interface LoraConfig {
  r: number; // rank of the update
  alpha: number; // scale numerator: the update is multiplied by alpha / r
  dropout: number; // dropout on the LoRA input during training (PEFT's lora_dropout)
  targets: Target[]; // which projections carry an adapter
}

export interface LoraPair {
  A: Float32Array; // lora_A.weight (r, inDim)
  B: Float32Array; // lora_B.weight (outDim, r)
  inDim: number;
  outDim: number;
  // Only while the adapter is resident in the kernel heap (kernels/adapter-slots.ts): A and Bᵀ
  // (r, outDim) in the batched LoRA kernel's layout (kernels/lora-kernel.ts packA, packBt), copies
  // of A and B, which stay the one source of truth (the reference path, training, saving); in
  // f32, or in bf16 (Uint16Array: each value's top 16 bits after toBf16's rounding)
  Ak?: Float32Array | Uint16Array;
  Bt?: Float32Array | Uint16Array;
  // kernels/index.ts's note of where Ak and Bt lie in the heap (byte offsets), valid only while
  // Ak and Bt are these very arrays: it saves two lookups per row per projection per step
  heapAt?: { Ak: Float32Array | Uint16Array; Bt: Float32Array | Uint16Array; pA: number; pBt: number; bf16: boolean };
}

export interface LoraAdapter {
  id: string;
  config: LoraConfig;
  scale: number; // alpha / r
  layers: Array<Partial<Record<Target, LoraPair>>>; // one entry per decoder layer
  baseModel: string; // base_model_name_or_path in adapter_config.json
  // Only while resident in the kernel heap (kernels/adapter-slots.ts sets it on place, drops it
  // on release): the heap byte offsets of every pair's Ak and Bt, (layer, TARGETS index, 2), −1
  // where the adapter has no such pair. A decode step reads one of these per row instead of
  // following layers → pair → matrices for every row of every projection.
  resident?: Int32Array;
  // with `resident`: whether those matrices are bf16 (else f32)
  residentBf16?: boolean;
}

/** Raised for an adapter that does not fit the model or a bad LoRA config. */
export class LoraError extends Error {
  override name = "LoraError";
}

/** (inDim, outDim) of a projection in a model of this config. */
export function projectionDims(c: Config, t: Target): [number, number] {
  const hd = c.dim / c.nHeads;
  switch (t) {
    case "q_proj": return [c.dim, c.nHeads * hd];
    case "k_proj": case "v_proj": return [c.dim, c.nKvHeads * hd];
    case "o_proj": return [c.nHeads * hd, c.dim];
    case "gate_proj": case "up_proj": return [c.dim, c.hiddenDim];
    case "down_proj": return [c.hiddenDim, c.dim];
  }
}

/** Check a LoRA config, throwing LoraError with the reason. */
export function validateLoraConfig(cfg: LoraConfig): void {
  if (!Number.isInteger(cfg.r) || cfg.r < 1 || cfg.r > 1024) throw new LoraError(`rank r must be an integer in 1..1024, got ${cfg.r}`);
  if (!(cfg.alpha > 0)) throw new LoraError(`alpha must be > 0, got ${cfg.alpha}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new LoraError(`dropout must be in [0, 1), got ${cfg.dropout}`);
  if (cfg.targets.length === 0) throw new LoraError("targets must name at least one projection");
  for (const t of cfg.targets) if (!TARGETS.includes(t)) throw new LoraError(`unknown target module ${t}; expected one of ${TARGETS.join(", ")}`);
}

/**
 * A new adapter initialised as PEFT does: A ~ U(−1/√in, 1/√in) (kaiming-uniform, a=√5), B = 0, so
 * the adapted model starts equal to the base. `randomB` fills B too (tests need a non-zero delta).
 */
export function createLora(model: Config, cfg: LoraConfig, opts: { id?: string; seed?: number; randomB?: boolean; baseModel?: string } = {}): LoraAdapter {
  validateLoraConfig(cfg);
  const rng = new Rng(opts.seed ?? 0);
  const layers: LoraAdapter["layers"] = [];
  for (let l = 0; l < model.nLayers; l++) {
    const layer: Partial<Record<Target, LoraPair>> = {};
    for (const t of TARGETS) {
      if (!cfg.targets.includes(t)) continue;
      const [inDim, outDim] = projectionDims(model, t);
      const A = new Float32Array(cfg.r * inDim);
      const bound = 1 / Math.sqrt(inDim);
      for (let i = 0; i < A.length; i++) A[i] = (rng.next() * 2 - 1) * bound;
      const B = new Float32Array(outDim * cfg.r);
      if (opts.randomB) for (let i = 0; i < B.length; i++) B[i] = (rng.next() * 2 - 1) * 0.2;
      layer[t] = { A, B, inDim, outDim };
    }
    layers.push(layer);
  }
  return { id: opts.id ?? "adapter", config: { ...cfg, targets: [...cfg.targets] }, scale: cfg.alpha / cfg.r, layers, baseModel: opts.baseModel ?? "" };
}

/** Bytes of adapter weights (fp32), what the adapter cache counts against its budget. */
export function loraBytes(a: LoraAdapter): number {
  let n = 0;
  for (const layer of a.layers) for (const p of Object.values(layer)) n += p.A.length + p.B.length;
  return n * 4;
}

// ── bf16: how a resident adapter may be stored (kernels/adapter-slots.ts). A bf16 value is the
// top 16 bits of an f32 (8 exponent bits, 7 mantissa bits), so widening it back is exact: a
// kernel reading bf16 matrices computes what it would on these rounded f32 values ──

const f32Bits = new Uint32Array(1), f32Of = new Float32Array(f32Bits.buffer);

// an f32's bits (as a uint32) rounded to bf16 bits: to nearest, ties to even (no carry past 32
// bits: only a NaN's bits could, and a NaN keeps its top bits, made quiet)
const bf16Bits = (b: number) => ((b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);

/** src's values as bf16 bits, written into dst from `at`. */
export function toBf16(dst: Uint16Array, at: number, src: Float32Array): void {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < u.length; i++) dst[at + i] = bf16Bits(u[i]!);
}

/** The f32 value x rounds to in bf16 (toBf16's rounding, widened back). */
export function bf16Round(x: number): number {
  f32Of[0] = x;
  f32Bits[0] = bf16Bits(f32Bits[0]!) << 16;
  return f32Of[0]!;
}

/**
 * A copy of `a` whose A and B are rounded to bf16: the readable reference for an adapter
 * resident in bf16 (lora.ts addLoraDelta on this copy is what the kernels compute from the
 * bf16 block, to their summation order).
 */
export function loraRoundedToBf16(a: LoraAdapter): LoraAdapter {
  const round = (m: Float32Array) => m.map(bf16Round);
  return { ...a, config: { ...a.config, targets: [...a.config.targets] }, layers: a.layers.map((l) => Object.fromEntries(Object.entries(l).map(([t, p]) => [t, { A: round(p.A), B: round(p.B), inDim: p.inDim, outDim: p.outDim }]))), resident: undefined, residentBf16: undefined };
}

/** Throw unless the adapter's shapes fit the model. */
export function checkLoraFits(model: Config, a: LoraAdapter): void {
  if (a.layers.length !== model.nLayers) throw new LoraError(`adapter ${a.id} has ${a.layers.length} layers, model has ${model.nLayers}`);
  for (const layer of a.layers)
    for (const [t, p] of Object.entries(layer) as [Target, LoraPair][]) {
      const [inDim, outDim] = projectionDims(model, t);
      if (p.inDim !== inDim || p.outDim !== outDim || p.A.length !== a.config.r * inDim || p.B.length !== outDim * a.config.r)
        throw new LoraError(`adapter ${a.id}: ${t} is (${p.outDim}x${p.inDim}) rank ${a.config.r}, model needs (${outDim}x${inDim})`);
    }
}

/** W += sign · scale · B·A for every adapted projection (sign −1 unmerges). */
export function mergeLora(w: Weights, a: LoraAdapter, sign: 1 | -1 = 1): void {
  const r = a.config.r;
  a.layers.forEach((layer, l) => {
    const lw = w.layers[l]!;
    for (const [t, p] of Object.entries(layer) as [Target, LoraPair][]) {
      const W = lw[t as keyof LayerWeights];
      const s = sign * a.scale;
      for (let o = 0; o < p.outDim; o++)
        for (let k = 0; k < r; k++) {
          const b = s * p.B[o * r + k]!;
          if (b === 0) continue;
          const wo = o * p.inDim, ak = k * p.inDim;
          for (let i = 0; i < p.inDim; i++) W[wo + i] = W[wo + i]! + (b * p.A[ak + i]!);
        }
    }
  });
}

/** Remove a merged adapter from the base weights (exact up to fp32 rounding). */
export function unmergeLora(w: Weights, a: LoraAdapter): void {
  mergeLora(w, a, -1);
}

/**
 * BGMV: for each row b that has an adapter with this projection, out[b] += scale · B·(A·x[b]).
 * The base matmul already ran once for the whole batch); this adds each row's own low-rank delta.
 * `mid` is scratch of at least max rank floats.
 */
export function addLoraDelta(out: Float32Array, x: Float32Array, adapters: ReadonlyArray<LoraAdapter | null>, layer: number, t: Target, n: number, d: number, mid: Float32Array): void {
  for (let b = 0; b < adapters.length; b++) {
    const a = adapters[b];
    if (!a) continue;
    const p = a.layers[layer]![t];
    if (!p) continue;
    const r = a.config.r, xo = b * n, oo = b * d;
    for (let k = 0; k < r; k++) {
      let s = 0;
      const ak = k * n;
      for (let j = 0; j < n; j++) s += p.A[ak + j]! * x[xo + j]!;
      mid[k] = s * a.scale;
    }
    for (let i = 0; i < d; i++) {
      let s = 0;
      const bi = i * r;
      for (let k = 0; k < r; k++) s += p.B[bi + k]! * mid[k]!;
      out[oo + i] = out[oo + i]! + s;
    }
  }
}
