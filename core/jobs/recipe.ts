// The fine-tuning recipe's defaults that follow the data: how many passes, how large a batch,
// and when to warm up, evaluate and checkpoint. A job that leaves these out gets them scaled
// to its Datanet versions (createJob), and the web form proposes the same numbers before the
// job is created (web/src/jobs/run-estimate.ts calls this), so the two cannot disagree.
//
// Why these numbers: a LoRA adapter on the committed base model memorises a fact only after
// it has seen it some tens of times; the planted-facts benchmark (bench/attribution.ts,
// docs/benchmarks.md) measured what it takes. Below that the adapter answers with the shape
// of the training answers but the wrong words (the demo's "The capital of Peflica. Manyama").

import type { TrainingSettings } from "./model.ts";

/** The data a job trains on, summed over its Datanet versions. */
export interface DataSize {
  records: number;
  /** Tokens as the Datanet versions count them (GPT-2 style pre-tokens, a lower bound). */
  tokens: number;
}

/** The settings that scale with the data (the API's names and meanings). */
export interface ScaledTrainingDefaults {
  epochs: number;
  batchSize: number;
  warmupSteps: number;
  evalEvery: number;
  checkpointEvery: number;
}

/** Passes over the data that a small Datanet gets: enough for the adapter to repeat its facts. */
export const MEMORISE_EPOCHS = 60;
/** A run is never shorter than this many optimizer steps (a LoRA B matrix starts at zero). */
export const MIN_STEPS = 60;
/** Nor, when it can be helped, longer than this: on a large Datanet fewer passes suffice, and a CPU core takes hours beyond it. */
export const MAX_STEPS = 1_000;
/** Packed sequence length the trainer uses, capped by the base model's context (containers/trainer). */
export const TRAINER_SEQ_LEN = 256;
/** Largest default batch (sequences per step). */
const MAX_BATCH = 8;

/**
 * The scaled defaults for `data` when `evalFraction` of it is held out and sequences are
 * `seqLen` tokens: a batch no larger than the data (a power of two up to 8), MEMORISE_EPOCHS
 * passes, more when that is under MIN_STEPS steps (at most 100) and fewer when it is over
 * MAX_STEPS (at least 0.1), warmup over the first tenth (at most 10 steps), six held-out
 * evaluations and five checkpoints spread over the run (over `maxSteps` when one is given).
 * Example: 40 short records (600 tokens), 10% held out, 128-token rows → batch 4, 60 epochs, 75 steps.
 */
export function scaledTrainingDefaults(data: DataSize, evalFraction: number, seqLen: number, maxSteps?: number): ScaledTrainingDefaults {
  const { trainRecords } = splitCounts(data.records, evalFraction);
  const trainTokens = data.records > 0 ? data.tokens * (trainRecords / data.records) : 0;
  const sequences = Math.max(1, packedSequences(trainTokens, trainRecords, seqLen));
  let batchSize = MAX_BATCH;
  while (batchSize > 1 && batchSize > sequences) batchSize /= 2;
  const stepsPerEpoch = sequences / batchSize;
  let epochs = MEMORISE_EPOCHS;
  if (epochs * stepsPerEpoch < MIN_STEPS) epochs = Math.min(100, Math.ceil(MIN_STEPS / stepsPerEpoch));
  else if (epochs * stepsPerEpoch > MAX_STEPS) epochs = Math.max(0.1, Math.floor((MAX_STEPS / stepsPerEpoch) * 10) / 10);
  // A run bounded by maxSteps spaces its warmup, evaluations and checkpoints over those steps.
  const steps = maxSteps ?? Math.max(1, Math.ceil(epochs * stepsPerEpoch));
  return {
    epochs,
    batchSize,
    warmupSteps: Math.min(10, Math.max(1, Math.round(steps * 0.1))),
    evalEvery: Math.max(1, Math.round(steps / 6)),
    checkpointEvery: Math.max(5, Math.round(steps / 5)),
  };
}

/**
 * The prompt noise measured best on the planted facts' tuning paraphrases
 * (TrainingSettings.promptNoise, containers/trainer/prompt-noise.ts): one copy of each record
 * beside it, its prompt words that other records share dropped or replaced by another shared
 * word at up to 80%. Opt-in, not a default: with the same steps it took the tuning paraphrases
 * answered right from 4.2% to 29.2% at 64 records (span precision@1 on them 0.333 → 0.458,
 * trained facts staying at 100%) and from 3.1% to 16.9% at 200 (0.300 → 0.338), but the
 * trained facts answered exactly fell from 99.4% to 92.5% at 200 records and from 34 to 25 of
 * the demo's 40 capitals: docs/benchmarks.md, "Prompt noise".
 */
export const PARAPHRASE_PROMPT_NOISE = { copies: 1, rate: 0.8, mode: "mix" } as const;

/**
 * createJob's training settings: the parsed ones, with every scaled setting that the raw
 * input did not name replaced by the recipe's value for this data; what the caller gave
 * stays. A run bounded by maxSteps keeps its default warmup below a tenth of it.
 */
export function withScaledDefaults(raw: unknown, training: TrainingSettings, data: DataSize, contextLength: number): TrainingSettings {
  const given = (raw as { training?: Record<string, unknown> } | null)?.training ?? {};
  const scaled = scaledTrainingDefaults(data, training.evalFraction, Math.min(TRAINER_SEQ_LEN, contextLength), training.maxSteps);
  const out: TrainingSettings = { ...training };
  for (const key of Object.keys(scaled) as (keyof ScaledTrainingDefaults)[]) if (given[key] === undefined) out[key] = scaled[key];
  if (given.warmupSteps === undefined && out.maxSteps !== undefined) out.warmupSteps = Math.min(out.warmupSteps, Math.max(0, Math.floor(out.maxSteps / 10)));
  return out;
}

/** The trainer's split: records below `evalFraction` are held out, at least one on each side. */
export function splitCounts(records: number, evalFraction: number): { trainRecords: number; heldOutRecords: number } {
  if (records < 2) return { trainRecords: records, heldOutRecords: 0 };
  const heldOutRecords = Math.min(Math.max(Math.round(records * evalFraction), 1), records - 1);
  return { trainRecords: records - heldOutRecords, heldOutRecords };
}

/** Sequences of seqLen from the packed stream (each record plus one EOS); the trainer cuts rows of seqLen + 1. */
export function packedSequences(tokens: number, records: number, seqLen: number): number {
  const stream = Math.round(tokens) + records;
  return stream < 2 ? 0 : Math.ceil((stream - 1) / seqLen);
}
