// Gradient sketches (TracIn at the final checkpoint, LoGra-style projection): the gradient of
// a loss with respect to the adapter's LoRA parameters, projected to k numbers with the seeded
// projection of core/attribution/projection.ts. The trainer sketches every training record's
// training loss at the end of training; the inference service sketches a call's answer loss
// (the completion's tokens given the prompt) the same way, and compares.
import { projectGradient, type SketchSet } from "../../core/attribution/index.ts";
import { backward, createGrads, forwardTrain, paramList, type LoraAdapter, type Model } from "../engine/index.ts";

export interface SketchOptions {
  k: number; // numbers per sketch (a multiple of 32)
  seed: number; // projection seed, written into the sketch file
}

export const DEFAULT_SKETCH: SketchOptions = { k: 256, seed: 20_261_201 };

/** Projected LoRA gradient of the mean loss of `targets` (−1 = no loss) given `tokens`; no dropout. */
export function loraGradientSketch(model: Model, adapter: LoraAdapter, tokens: ArrayLike<number>, targets: ArrayLike<number>, opts: SketchOptions = DEFAULT_SKETCH): Float32Array {
  const grads = createGrads(model, adapter, false);
  const { tape, count } = forwardTrain(model, adapter, tokens, targets, null);
  if (count > 0) backward(model, adapter, tape, targets, grads);
  return projectGradient(paramList(model, adapter, grads).map((p) => p.grad), opts.k, opts.seed);
}

/**
 * A training record's sequence as training saw it: after the end-of-text token that
 * precedes it in the packed stream, each token predicted, then the end-of-text token.
 * Records longer than the context keep their first maxSeqLen tokens.
 */
export function recordSequence(record: ArrayLike<number>, eos: number | null, maxSeqLen: number): { tokens: number[]; targets: number[] } {
  const seq = [...(eos === null ? [] : [eos]), ...Array.from(record), ...(eos === null ? [] : [eos])].slice(0, maxSeqLen + 1);
  return { tokens: seq.slice(0, -1), targets: seq.slice(1) };
}

/** A call's sequence: the prompt (BOS included) and completion, loss on the completion only; the last maxSeqLen tokens. */
export function callSequence(prompt: ArrayLike<number>, completion: ArrayLike<number>, maxSeqLen: number): { tokens: number[]; targets: number[] } {
  const seq = [...Array.from(prompt), ...Array.from(completion)];
  const targets = seq.slice(1).map((t, i) => (i + 1 >= prompt.length ? t : -1));
  const tokens = seq.slice(0, -1), drop = Math.max(0, tokens.length - maxSeqLen);
  return { tokens: tokens.slice(drop), targets: targets.slice(drop) };
}

/** Sketches of every training record (rows in the order given: the span index's). */
export function sketchRecords(model: Model, adapter: LoraAdapter, records: ReadonlyArray<ArrayLike<number>>, eos: number | null, opts: SketchOptions = DEFAULT_SKETCH): SketchSet {
  const sketches = new Float32Array(records.length * opts.k);
  records.forEach((r, i) => {
    const { tokens, targets } = recordSequence(r, eos, model.config.maxSeqLen);
    if (tokens.length > 0) sketches.set(loraGradientSketch(model, adapter, tokens, targets, opts), i * opts.k);
  });
  return { k: opts.k, seed: opts.seed, sketches };
}

/** The call's sketch, to compare with the records'; same k and seed as the sketch file. */
export function sketchCall(model: Model, adapter: LoraAdapter, prompt: ArrayLike<number>, completion: ArrayLike<number>, opts: SketchOptions): Float32Array {
  const { tokens, targets } = callSequence(prompt, completion, model.config.maxSeqLen);
  return loraGradientSketch(model, adapter, tokens, targets, opts);
}
