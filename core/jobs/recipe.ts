// The fine-tuning recipe's defaults that follow the data: how many passes, how large a batch,
// and when to warm up, evaluate and checkpoint. A job that leaves these out gets them scaled
// to its Datanet versions (createJob), and the web form proposes the same numbers before the
// job is created (web/src/jobs/run-estimate.ts calls this), so the two cannot disagree.
//
// Why these numbers: a LoRA adapter on the committed base model memorises a fact only after
// it has seen it some tens of times; the planted-facts benchmark (bench/attribution.ts,
// docs/benchmarks.md) measured what it takes. Below that the adapter answers with the shape
// of the training answers but the wrong words (the demo's "The capital of Peflica. Manyama").

import { tokenizerCost, type TokenizerCost } from "./base-models.ts";
import type { TrainingSettings } from "./model.ts";

/** The data a job trains on, summed over its Datanet versions. */
export interface DataSize {
  records: number;
  /** Tokens as the Datanet versions count them: GPT-2 style pre-tokens of the records' words (core/ingest/token-count.ts), not the base model's tokens (estimatedModelTokens). */
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

/**
 * Passes over the data that a Datanet gets: enough for the adapter to repeat its facts (64 to
 * 680 planted records, the demo's 40 capitals) and, past that, to answer facts stated once in
 * wordings they were not trained in: 100 (the schema's most) instead of 60 took the 680-record
 * planted set's single-wording paraphrases answered right from 72.5% and 65.0% to 82.5% and 77.5%
 * on data seeds 2 and 3, trained facts staying at 100% (docs/benchmarks.md, "Fresh test seeds").
 */
export const MEMORISE_EPOCHS = 100;
/** A run is never shorter than this many optimizer steps (a LoRA B matrix starts at zero). */
export const MIN_STEPS = 60;
/**
 * Nor, when it can be helped, longer than this: on a large Datanet fewer passes suffice. At the
 * engine's rate on the 680-record planted set (2,880 steps of 8 rows of 128 tokens in 528 s on
 * one loaded core) it is about half an hour; a Datanet of up to about 1,800 short records
 * (12 tokens each) keeps its MEMORISE_EPOCHS passes under it; 3,000 get about 59.
 */
export const MAX_STEPS = 10_000;
/** Packed sequence length the trainer uses, capped by the base model's context (containers/trainer). */
export const TRAINER_SEQ_LEN = 256;
/** Largest default batch (sequences per step). */
const MAX_BATCH = 8;
/** A default batch leaves at least this many optimizer steps per pass where the data allows: the batches every measured recipe trained with (4 for the demo's 40 capitals and 64 planted records, 8 from 128 up). */
const MIN_STEPS_PER_EPOCH = 4;

/** The base model's tokens of the data's training text, estimated from the ingest's pre-token counts (the trainer counts them exactly once it tokenizes). */
export function estimatedModelTokens(data: DataSize, cost: TokenizerCost): number {
  return data.tokens * cost.perIngestToken + data.records * cost.perRecord;
}

/**
 * Rows of `seqLen` positions that the trainer packs `records` records of `modelTokens` tokens in
 * all into, estimated from the mean record: each record is one document (BOS, its tokens, EOS:
 * tokens + 1 positions), whole documents share a row, a longer one is cut into rows
 * (packDocuments in containers/engine).
 */
export function documentRows(modelTokens: number, records: number, seqLen: number): number {
  if (records <= 0) return 0;
  const positions = modelTokens / records + 1;
  if (positions >= seqLen) return Math.ceil((records * positions) / seqLen);
  return Math.ceil(records / Math.floor(seqLen / positions));
}

/** The training records (what `evalFraction` leaves), their share of the model's tokens, and the rows the trainer packs them into: what the recipe and the web form's estimate both count. */
export function estimatedTrainingRows(data: DataSize, evalFraction: number, seqLen: number, cost: TokenizerCost): { trainRecords: number; heldOutRecords: number; trainTokens: number; rows: number } {
  const { trainRecords, heldOutRecords } = splitCounts(data.records, evalFraction);
  const trainTokens = data.records > 0 ? estimatedModelTokens(data, cost) * (trainRecords / data.records) : 0;
  return { trainRecords, heldOutRecords, trainTokens, rows: documentRows(trainTokens, trainRecords, seqLen) };
}

/** What else bounds the scaled defaults. */
export interface ScaleOptions {
  /** The job's own step count: warmup, evaluations and checkpoints are spaced over it. */
  maxSteps?: number;
  /** The base model's tokenizer cost (base-models.ts `tokenizerCost`); the committed model's when absent. */
  cost?: TokenizerCost;
  /** At most this many record passes (epochs × records, all records): the per-job quota createJob checks. */
  maxRecordPasses?: number;
}

/**
 * The scaled defaults for `data` when `evalFraction` of it is held out and rows are `seqLen`
 * tokens, on a base model whose tokenizer costs `cost` (the committed model's by default):
 * the training records' rows estimated in the model's tokens, a batch that leaves at least
 * MIN_STEPS_PER_EPOCH steps per pass (a power of two up to 8), MEMORISE_EPOCHS passes, more
 * when that is under MIN_STEPS steps (at most 100) and fewer when it is over MAX_STEPS or
 * `maxRecordPasses` (cut to hundredths, at least 0.01), warmup over the first tenth (at most
 * 10 steps), six held-out evaluations and five checkpoints spread over the run (over
 * `maxSteps` when one is given). The passes are not cut for a Datanet within both: on the
 * 680-record planted set, 21 passes instead of 60 lost most of what it learned of paraphrases
 * (docs/benchmarks.md, "Can the defaults' own lr train this set?"), and 100 learned more of them
 * than 60 ("Fresh test seeds").
 * Example: the demo's 40 capitals (567 pre-tokens, about 2,400 model tokens), 10% held out,
 * 128-token rows → 18 rows, batch 4, 100 epochs, 450 steps.
 */
export function scaledTrainingDefaults(data: DataSize, evalFraction: number, seqLen: number, opts: ScaleOptions = {}): ScaledTrainingDefaults {
  const { maxSteps, cost = tokenizerCost("mf-tiny-sotu"), maxRecordPasses } = opts;
  const rows = Math.max(1, estimatedTrainingRows(data, evalFraction, seqLen, cost).rows);
  let batchSize = MAX_BATCH;
  while (batchSize > 1 && batchSize * MIN_STEPS_PER_EPOCH > rows) batchSize /= 2;
  const stepsPerEpoch = rows / batchSize;
  let epochs = MEMORISE_EPOCHS;
  if (epochs * stepsPerEpoch < MIN_STEPS) epochs = Math.min(100, Math.ceil(MIN_STEPS / stepsPerEpoch));
  else if (epochs * stepsPerEpoch > MAX_STEPS) epochs = Math.max(0.01, Math.floor((MAX_STEPS / stepsPerEpoch) * 100) / 100);
  // Within the job's quota of record passes (core/quotas jobSequences: epochs × records), so the defaults never ask for a job that createJob refuses.
  if (maxRecordPasses !== undefined && data.records > 0 && epochs * data.records > maxRecordPasses) epochs = Math.max(0.01, Math.floor((maxRecordPasses / data.records) * 100) / 100);
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
 * input did not name replaced by the recipe's value for this data on the base model `base`
 * (within `maxRecordPasses`, the per-job quota, when given);
 * what the caller gave stays (the learning rate is the schema's, 0.005, unless named). A run
 * bounded by maxSteps keeps its default warmup below a tenth of it.
 */
export function withScaledDefaults(raw: unknown, training: TrainingSettings, data: DataSize, base: { id: string; contextLength: number }, maxRecordPasses?: number): TrainingSettings {
  const given = (raw as { training?: Record<string, unknown> } | null)?.training ?? {};
  const scaled = scaledTrainingDefaults(data, training.evalFraction, Math.min(TRAINER_SEQ_LEN, base.contextLength), { maxSteps: training.maxSteps, cost: tokenizerCost(base.id), maxRecordPasses });
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
