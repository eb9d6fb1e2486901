// Gradient sketches (TracIn at the final checkpoint, LoGra-style projection): the gradient of
// a function of the adapter's output with respect to its LoRA parameters, projected to k
// numbers with the seeded projection of core/attribution/projection.ts. The trainer sketches
// every training record's training loss at the end of training; the inference service
// sketches a call's answer (the completion's tokens given the prompt, BOS included: the same
// document shape) by TRAK's margin instead of the loss, and compares.
import { projectGradient, type SketchSet } from "../../core/attribution/index.ts";
import { backward, createGrads, forwardTrain, packDocuments, paramList, type Grads, type LoraAdapter, type Model, type TokenizedRecord } from "../engine/index.ts";

export interface SketchOptions {
  k: number; // numbers per sketch (a multiple of 32)
  seed: number; // projection seed, written into the sketch file
}

/**
 * What is differentiated at each target token: its cross-entropy (`loss`, a record's training
 * loss), or TRAK's margin log(p / (1 − p)) (`margin`, a call's answer), whose gradient is the
 * cross-entropy's divided by 1 − p: a token the adapter is sure of (p ≈ 1) keeps its direction
 * instead of vanishing, so the few tokens a paraphrased prompt leaves it unsure of do not decide
 * the direction of the whole answer's gradient.
 */
export type SketchOutput = "loss" | "margin";

// k = 2048: at 256 the projection's noise in a cosine (about 1/√k ≈ 0.06) was as large as the
// cosines that separate the asked fact's record from the rest (docs/benchmarks.md, "Gradient
// attribution: which gradients"). 8 KiB per record.
export const DEFAULT_SKETCH: SketchOptions = { k: 2048, seed: 20_261_201 };

/** Projected LoRA gradient of the mean loss (or margin) of `targets` (−1 = none) given `tokens`; no dropout. */
export function loraGradientSketch(model: Model, adapter: LoraAdapter, tokens: ArrayLike<number>, targets: ArrayLike<number>, opts: SketchOptions = DEFAULT_SKETCH, output: SketchOutput = "loss"): Float32Array {
  const grads = createGrads(model, adapter, false);
  accumulate(model, adapter, grads, tokens, targets, null, output);
  return projectGradient(paramList(model, adapter, grads).map((p) => p.grad), opts.k, opts.seed);
}

function accumulate(model: Model, adapter: LoraAdapter, grads: Grads, tokens: ArrayLike<number>, targets: ArrayLike<number>, starts: ArrayLike<number> | null, output: SketchOutput = "loss"): void {
  const { tape, count } = forwardTrain(model, adapter, tokens, targets, null, Float32Array, starts);
  if (count === 0) return;
  if (output === "margin") tape.dlogits = marginGradient(tape.logits, targets, model.config.vocabSize);
  backward(model, adapter, tape, targets, grads);
}

/** ∂/∂logits of minus the mean margin over the targets: per target row, (softmax − onehot(y)) / (1 − p_y) / count. */
export function marginGradient(logits: ArrayLike<number>, targets: ArrayLike<number>, V: number): Float32Array {
  const T = targets.length, d = new Float32Array(T * V), p = new Float64Array(V);
  let count = 0;
  for (let t = 0; t < T; t++) if (targets[t]! >= 0) count++;
  for (let t = 0; t < T; t++) {
    const y = targets[t]!, o = t * V;
    if (y < 0) continue;
    let max = -Infinity, z = 0, rest = 0;
    for (let j = 0; j < V; j++) if (logits[o + j]! > max) max = logits[o + j]!;
    for (let j = 0; j < V; j++) z += p[j] = Math.exp(logits[o + j]! - max);
    for (let j = 0; j < V; j++) if (j !== y) rest += p[j]! / z; // 1 − p_y, summed so it keeps its precision when p_y ≈ 1
    const w = 1 / count / Math.max(rest, 1e-12);
    for (let j = 0; j < V; j++) d[o + j] = (j === y ? -rest : p[j]! / z) * w;
  }
  return d;
}

/**
 * A training record's sketch: the gradient of its training loss exactly as training took it,
 * the record packed alone as a document ([BOS] tokens [EOS], loss where its mask says,
 * engine/packing.ts packDocuments), summed over the rows a long record is cut into.
 */
export function recordSketch(model: Model, adapter: LoraAdapter, record: TokenizedRecord, special: { bos: number | null; eos: number | null }, opts: SketchOptions = DEFAULT_SKETCH): Float32Array {
  const grads = createGrads(model, adapter, false);
  for (const row of packDocuments([record], model.config.maxSeqLen, special)) accumulate(model, adapter, grads, row.tokens, row.targets, row.starts ?? null);
  return projectGradient(paramList(model, adapter, grads).map((p) => p.grad), opts.k, opts.seed);
}

/** A call's sequence: the prompt (BOS included) and completion, loss on the completion only; the last maxSeqLen tokens. */
export function callSequence(prompt: ArrayLike<number>, completion: ArrayLike<number>, maxSeqLen: number): { tokens: number[]; targets: number[] } {
  const seq = [...Array.from(prompt), ...Array.from(completion)];
  const targets = seq.slice(1).map((t, i) => (i + 1 >= prompt.length ? t : -1));
  const tokens = seq.slice(0, -1), drop = Math.max(0, tokens.length - maxSeqLen);
  return { tokens: tokens.slice(drop), targets: targets.slice(drop) };
}

/** Sketches of every training record (rows in the order given: the span index's). */
export function sketchRecords(model: Model, adapter: LoraAdapter, records: readonly TokenizedRecord[], special: { bos: number | null; eos: number | null }, opts: SketchOptions = DEFAULT_SKETCH): SketchSet {
  const sketches = new Float32Array(records.length * opts.k);
  records.forEach((r, i) => sketches.set(recordSketch(model, adapter, r, special, opts), i * opts.k));
  return { k: opts.k, seed: opts.seed, sketches };
}

/**
 * The call's sketch, to compare with the records'; same k and seed as the sketch file. The
 * gradient of the answer's mean margin (TRAK's output function), not of its loss: on the planted
 * facts' tuning paraphrases this took gradient precision@1 from 0.800 to 0.875 at k = 2048
 * (docs/benchmarks.md); the records' sketches stay their training loss's gradient.
 */
export function sketchCall(model: Model, adapter: LoraAdapter, prompt: ArrayLike<number>, completion: ArrayLike<number>, opts: SketchOptions): Float32Array {
  const { tokens, targets } = callSequence(prompt, completion, model.config.maxSeqLen);
  return loraGradientSketch(model, adapter, tokens, targets, opts, "margin");
}
