/**
 * What a fine-tune will do before it starts: how many optimizer steps, how
 * many tokens, about how long, and whether it is long enough to learn
 * anything. The arithmetic mirrors the trainer (containers/trainer): records
 * are split into training and held-out by `evalFraction` (at least one on
 * each side), training records are packed with one EOS each into sequences
 * of `seqLen` tokens, and a run of `epochs` takes
 * ceil(epochs × sequences / (batchSize × gradientAccumulation)) steps unless
 * `maxSteps` is set. Pure, so it is unit tested.
 *
 * Token counts come from the Datanet versions, which count GPT-2 style
 * pre-tokens (core/ingest/token-count.ts): a lower bound of what the base
 * model's tokenizer makes of them, so steps and tokens are lower bounds too.
 */

import { packedSequences, scaledTrainingDefaults, splitCounts, type DataSize as RecipeDataSize } from "../../../core/jobs/recipe.ts";

/** The selected data, summed over the job's Datanet versions. */
export type DataSize = RecipeDataSize;
export { packedSequences };

/** The settings the estimate depends on (the API's names and meanings). */
export interface RunSettings {
  epochs: number;
  maxSteps: number | undefined;
  batchSize: number;
  gradientAccumulation: number;
  warmupSteps: number;
  evalFraction: number;
  evalEvery: number;
}

export interface RunEstimate {
  trainRecords: number;
  heldOutRecords: number;
  /** Packed training sequences of `seqLen` tokens (one pass over the data). */
  sequences: number;
  steps: number;
  /** Sequences per optimizer step (batch × accumulation). */
  sequencesPerStep: number;
  /** Training tokens the run processes, repeats included. */
  tokensSeen: number;
  /** Passes over the packed training data the steps amount to. */
  passes: number;
  /** Training time at `tokensPerSecond`; undefined when no rate is known. */
  seconds: number | undefined;
  /** Why this run would learn little or nothing; empty when it looks fine. */
  warnings: string[];
  /** A run that cannot start at all (too few records). */
  blocked: string | undefined;
}

/** Below this many optimizer steps a LoRA adapter barely moves from its zero-initialised B. */
export const MIN_USEFUL_STEPS = 20;

/** Estimates a run; `tokensPerSecond` is the training rate to expect (undefined: no time shown). */
export function estimateRun(data: DataSize, s: RunSettings, seqLen: number, tokensPerSecond?: number): RunEstimate {
  const { trainRecords, heldOutRecords } = splitCounts(data.records, s.evalFraction);
  const trainTokens = data.records > 0 ? data.tokens * (trainRecords / data.records) : 0;
  const sequences = packedSequences(trainTokens, trainRecords, seqLen);
  const sequencesPerStep = s.batchSize * s.gradientAccumulation;
  const steps = s.maxSteps ?? Math.max(1, Math.ceil((s.epochs * sequences) / sequencesPerStep));
  // The last packed sequence is usually short; average over the real stream.
  const tokensPerSequence = sequences > 0 ? (trainTokens + trainRecords) / sequences : 0;
  const tokensSeen = Math.round(steps * sequencesPerStep * tokensPerSequence);
  const passes = sequences > 0 ? (steps * sequencesPerStep) / sequences : 0;
  const seconds = tokensPerSecond && tokensPerSecond > 0 ? tokensSeen / tokensPerSecond : undefined;

  const warnings: string[] = [];
  if (steps < MIN_USEFUL_STEPS) warnings.push(`Only ${steps} optimizer step${steps === 1 ? "" : "s"}: under ${MIN_USEFUL_STEPS}, the adapter barely moves from the base model. Raise epochs or max steps, or lower the batch size.`);
  if (s.warmupSteps >= steps) warnings.push(`Warmup (${s.warmupSteps} steps) is not shorter than the run (${steps}): the learning rate never reaches its peak.`);
  if (passes > 0 && passes < 1) warnings.push(`The run covers ${Math.round(passes * 100)}% of the training data once: part of it is never seen.`);
  if (s.evalEvery === 0 || s.evalEvery >= steps) warnings.push("No held-out evaluation before the end: the loss curve will have no held-out points to spot overfitting.");
  const blocked = data.records < 2 ? `The selected data has ${data.records} record${data.records === 1 ? "" : "s"}; training needs at least 2 (one is held out).` : undefined;
  return { trainRecords, heldOutRecords, sequences, steps, sequencesPerStep, tokensSeen, passes, seconds, warnings, blocked };
}

/**
 * Settings scaled to the data, exactly as the API scales what a job leaves out
 * (core/jobs/recipe.ts): a batch no larger than the data, enough passes for the
 * adapter to learn its records, fewer on large data, and warmup, evaluation and
 * checkpoints spaced over the run.
 */
export function scaledDefaults(data: DataSize, evalFraction: number, seqLen: number): Pick<RunSettings, "epochs" | "batchSize" | "warmupSteps" | "evalEvery"> & { checkpointEvery: number } {
  return scaledTrainingDefaults(data, evalFraction, seqLen);
}
