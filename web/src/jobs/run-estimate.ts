/**
 * What a fine-tune will do before it starts: how many optimizer steps, how
 * many tokens, about how long, and whether it is long enough to learn
 * anything. It counts with the recipe's own functions (core/jobs/recipe.ts),
 * the ones createJob scales a job's defaults with, so the form's estimate is
 * the run the job's settings ask for: records are split into training and
 * held-out by `evalFraction` (at least one on each side, splitCounts), the
 * training text is counted in the base model's tokens (estimatedModelTokens
 * with the model's tokenizerCost), each record is one document packed whole
 * into rows of the trainer's sequence length (documentRows), and a run of
 * `epochs` takes ceil(epochs × rows / (batchSize × gradientAccumulation))
 * steps, as the trainer counts them (containers/trainer/training-data.ts),
 * unless `maxSteps` is set. Pure, so it is unit tested.
 *
 * The Datanet versions count GPT-2 style pre-tokens (core/ingest/token-count.ts);
 * the model's tokens are estimated from them with the model's measured
 * tokenizer cost, so steps and tokens are estimates until the trainer tokenizes
 * (for a model with no measured cost they are the pre-token counts: lower bounds).
 */

import { defaultQuotas } from "../../../core/config.ts";
import { tokenizerCost, type TokenizerCost } from "../../../core/jobs/base-models.ts";
import { estimatedTrainingRows, scaledTrainingDefaults, TRAINER_SEQ_LEN, type DataSize as RecipeDataSize, type ScaledTrainingDefaults } from "../../../core/jobs/recipe.ts";

/** The selected data, summed over the job's Datanet versions. */
export type DataSize = RecipeDataSize;

/** The base model the run is estimated for: its id names its tokenizer cost, its context caps the rows. */
export interface EstimateModel {
  id: string;
  contextLength: number;
}

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
  /** Packed training rows of at most `seqLen` positions (one pass over the data). */
  sequences: number;
  /** Row length the trainer packs into: its sequence length capped by the model's context. */
  seqLen: number;
  steps: number;
  /** Whether `steps` is exact (max steps set) rather than estimated from the token counts. */
  stepsExact: boolean;
  /** Sequences per optimizer step (batch × accumulation). */
  sequencesPerStep: number;
  /** Training positions the run processes (the model's tokens, one per record's EOS), repeats included. */
  tokensSeen: number;
  /** Passes over the packed training data the steps amount to. */
  passes: number;
  /** Training time at `tokensPerSecond`; undefined when no rate is known. */
  seconds: number | undefined;
  /** The tokenizer cost the model's tokens were estimated with. */
  cost: TokenizerCost;
  /** True when the cost is the ingest's own count (no measured cost for this model): the counts are lower bounds. */
  lowerBound: boolean;
  /** Why this run would learn little or nothing; empty when it looks fine. */
  warnings: string[];
  /** A run that cannot start at all (too few records). */
  blocked: string | undefined;
}

/** Below this many optimizer steps a LoRA adapter barely moves from its zero-initialised B. */
export const MIN_USEFUL_STEPS = 20;

/**
 * The per-job quota of record passes (epochs × records) that createJob checks and scales the
 * defaults within. The API does not publish a deployment's quotas, so the form uses the
 * platform's default (core/config.ts); on a deployment that overrides it the form proposes
 * the default quota's passes and createJob, which scales with its own, may differ.
 */
export const RECORD_PASSES_PER_JOB = defaultQuotas.sequencesPerJob;

/** The trainer's row length on `model`, as createJob passes it to the recipe (withScaledDefaults). */
export function trainerSeqLen(model: EstimateModel): number {
  return Math.min(TRAINER_SEQ_LEN, model.contextLength);
}

/** Estimates a run on `model`; `tokensPerSecond` is the training rate to expect (undefined: no time shown). */
export function estimateRun(data: DataSize, s: RunSettings, model: EstimateModel, tokensPerSecond?: number): RunEstimate {
  const cost = tokenizerCost(model.id);
  const seqLen = trainerSeqLen(model);
  const { trainRecords, heldOutRecords, trainTokens, rows: sequences } = estimatedTrainingRows(data, s.evalFraction, seqLen, cost);
  const sequencesPerStep = s.batchSize * s.gradientAccumulation;
  const steps = s.maxSteps ?? Math.max(1, Math.ceil((s.epochs * sequences) / sequencesPerStep));
  // Each record fills its tokens + 1 positions (BOS..EOS); rows are as long as their content.
  const positionsPerRow = sequences > 0 ? (trainTokens + trainRecords) / sequences : 0;
  const tokensSeen = Math.round(steps * sequencesPerStep * positionsPerRow);
  const passes = sequences > 0 ? (steps * sequencesPerStep) / sequences : 0;
  const seconds = tokensPerSecond && tokensPerSecond > 0 ? tokensSeen / tokensPerSecond : undefined;

  const warnings: string[] = [];
  if (steps < MIN_USEFUL_STEPS) warnings.push(`Only ${steps} optimizer step${steps === 1 ? "" : "s"}: under ${MIN_USEFUL_STEPS}, the adapter barely moves from the base model. Raise epochs or max steps, or lower the batch size.`);
  if (s.warmupSteps >= steps) warnings.push(`Warmup (${s.warmupSteps} steps) is not shorter than the run (${steps}): the learning rate never reaches its peak.`);
  if (passes > 0 && passes < 1) warnings.push(`The run covers ${Math.round(passes * 100)}% of the training data once: part of it is never seen.`);
  if (s.evalEvery === 0 || s.evalEvery >= steps) warnings.push("No held-out evaluation before the end: the loss curve will have no held-out points to spot overfitting.");
  const blocked = data.records < 2 ? `The selected data has ${data.records} record${data.records === 1 ? "" : "s"}; training needs at least 2 (one is held out).` : undefined;
  const lowerBound = cost.perIngestToken === 1 && cost.perRecord === 0;
  return { trainRecords, heldOutRecords, sequences, seqLen, steps, stepsExact: s.maxSteps !== undefined, sequencesPerStep, tokensSeen, passes, seconds, cost, lowerBound, warnings, blocked };
}

/**
 * Settings scaled to the data, exactly as createJob scales what a job leaves out
 * (core/jobs/recipe.ts withScaledDefaults): the same rows in the model's tokens, a batch that
 * leaves at least 4 steps per pass, MEMORISE_EPOCHS (100) passes up to the recipe's MAX_STEPS and within the
 * per-job quota, and warmup, evaluation and checkpoints spaced over the run (over `maxSteps`
 * when one is set).
 */
export function scaledDefaults(data: DataSize, evalFraction: number, model: EstimateModel, maxSteps?: number): ScaledTrainingDefaults {
  return scaledTrainingDefaults(data, evalFraction, trainerSeqLen(model), { maxSteps, cost: tokenizerCost(model.id), maxRecordPasses: RECORD_PASSES_PER_JOB });
}
