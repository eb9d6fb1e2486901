// Gradient sketches (TracIn at the final checkpoint, LoGra-style projection): the gradient of
// a loss with respect to the adapter's LoRA parameters, projected to k numbers with the seeded
// projection of core/attribution/projection.ts. The trainer sketches every training record's
// training loss at the end of training; the inference service sketches a call's answer loss
// (the completion's tokens given the prompt, BOS included: the same document shape) the same
// way, and compares.
import { projectGradient, type SketchSet } from "../../core/attribution/index.ts";
import { backward, createGrads, forwardTrain, packDocuments, paramList, type Grads, type LoraAdapter, type Model, type TokenizedRecord } from "../engine/index.ts";

export interface SketchOptions {
  k: number; // numbers per sketch (a multiple of 32)
  seed: number; // projection seed, written into the sketch file
}

export const DEFAULT_SKETCH: SketchOptions = { k: 256, seed: 20_261_201 };

/** Projected LoRA gradient of the mean loss of `targets` (−1 = no loss) given `tokens`; no dropout. */
export function loraGradientSketch(model: Model, adapter: LoraAdapter, tokens: ArrayLike<number>, targets: ArrayLike<number>, opts: SketchOptions = DEFAULT_SKETCH): Float32Array {
  const grads = createGrads(model, adapter, false);
  accumulate(model, adapter, grads, tokens, targets, null);
  return projectGradient(paramList(model, adapter, grads).map((p) => p.grad), opts.k, opts.seed);
}

function accumulate(model: Model, adapter: LoraAdapter, grads: Grads, tokens: ArrayLike<number>, targets: ArrayLike<number>, starts: ArrayLike<number> | null): void {
  const { tape, count } = forwardTrain(model, adapter, tokens, targets, null, Float32Array, starts);
  if (count > 0) backward(model, adapter, tape, targets, grads);
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

/** The call's sketch, to compare with the records'; same k and seed as the sketch file. */
export function sketchCall(model: Model, adapter: LoraAdapter, prompt: ArrayLike<number>, completion: ArrayLike<number>, opts: SketchOptions): Float32Array {
  const { tokens, targets } = callSequence(prompt, completion, model.config.maxSeqLen);
  return loraGradientSketch(model, adapter, tokens, targets, opts);
}
