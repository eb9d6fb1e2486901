import { z } from "zod";
import { AddressSchema } from "../account.ts";
import { Bytes32Hex, Visibility } from "../datanets/model.ts";

/**
 * The Model Factory's job shapes, shared by the API (which documents them),
 * the job use cases, the trainer (which receives a JobSpec and reports
 * JobEvents) and the compute adapters. One definition serves all.
 */

export const JobStatus = z.enum(["QUEUED", "STARTING", "RUNNING", "EVALUATING", "SUCCEEDED", "FAILED", "CANCELLED"]).meta({ id: "JobStatus" });
export type JobStatus = z.infer<typeof JobStatus>;
export const TERMINAL_STATUSES: readonly JobStatus[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** The projections a LoRA adapter may target (PEFT's module names for Llama). */
export const TargetModule = z.enum(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]);

// The defaults are the recipe that made the committed base model learn a few hundred planted
// facts (core/jobs/recipe.ts, docs/benchmarks.md): every projection, rank 16, no dropout (it
// only slows memorising), and a learning rate a tiny model's adapter takes without diverging:
// 0.005, because at 0.01 the loss climbed again after ~200 steps on the 680-record planted set
// whose facts come in several wordings (0.6% of its facts learned), while 0.005 trained every
// set measured: the demo's 40 capitals, 14, 64, 200 and 680 planted records (docs/benchmarks.md,
// "Can the defaults' own lr train this set?").
export const LoraSettings = z
  .strictObject({
    rank: z.number().int().min(1).max(256).default(16),
    alpha: z.number().positive().max(1024).default(32),
    dropout: z.number().min(0).max(0.5).default(0),
    targetModules: z.array(TargetModule).min(1).default(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
  })
  .meta({ id: "LoraSettings" });
export type LoraSettings = z.infer<typeof LoraSettings>;

export const TrainingSettings = z
  .strictObject({
    /** Passes over the training records; ignored when maxSteps is given. Left out: scaled to the data (core/jobs/recipe.ts), as are batchSize, warmupSteps, evalEvery and checkpointEvery. */
    epochs: z.number().positive().max(100).default(3),
    /** Optimizer steps; overrides epochs. */
    maxSteps: z.number().int().min(1).max(100_000).optional(),
    /** AdamW's peak rate, after warmup; cosine decay to 0.1× of it. */
    learningRate: z.number().positive().max(1).default(5e-3),
    /** Sequences per micro-batch. */
    batchSize: z.number().int().min(1).max(256).default(8),
    gradientAccumulation: z.number().int().min(1).max(64).default(1),
    warmupSteps: z.number().int().min(0).max(10_000).default(10),
    weightDecay: z.number().min(0).max(1).default(0),
    clipNorm: z.number().min(0).max(100).default(1),
    /** Share of records held out for evaluation (at least one record). */
    evalFraction: z.number().min(0.01).max(0.5).default(0.1),
    evalEvery: z.number().int().min(0).max(100_000).default(25),
    /** Evaluations without improvement before stopping (0 = never). */
    earlyStopPatience: z.number().int().min(0).max(100).default(0),
    checkpointEvery: z.number().int().min(0).max(100_000).default(20),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
    /**
     * Which tokens of instruction and chat records take loss: "completion" (the default when
     * absent, as TRL's SFT) only the responses, "all" the prompt too. Text records train on all.
     */
    lossOn: z.enum(["completion", "all"]).optional(),
    /**
     * Prompt noise (containers/trainer/prompt-noise.ts): `copies` perturbed copies of each
     * training record whose prompt words, when other records' prompts share them, are dropped
     * (mode "mix": dropped or replaced by another shared word) at up to `rate`, so the adapter
     * answers from a record's own words, not from one wording of the prompt; the copies share
     * the record's epochs. Absent: none (PARAPHRASE_PROMPT_NOISE in core/jobs/recipe.ts is
     * the measured setting, and what it costs).
     */
    promptNoise: z.strictObject({ copies: z.number().int().min(0).max(8), rate: z.number().min(0).max(0.95), mode: z.enum(["drop", "mix"]).default("drop") }).optional(),
  })
  .meta({ id: "TrainingSettings" });
export type TrainingSettings = z.infer<typeof TrainingSettings>;

export const DatanetVersionRef = z.strictObject({ id: z.string().min(1), version: z.number().int().positive() });

export const CreateJobInput = z
  .strictObject({
    datanets: z.array(DatanetVersionRef).min(1).max(16),
    baseModel: z.string().min(1).default("mf-tiny-sotu"),
    lora: LoraSettings.default(LoraSettings.parse({})),
    training: TrainingSettings.default(TrainingSettings.parse({})),
  })
  .meta({ id: "CreateJobInput" });
export type CreateJobInput = z.infer<typeof CreateJobInput>;

export const LossPoint = z.object({ step: z.number().int(), loss: z.number(), evalLoss: z.number().optional() });

export const JobProgress = z
  .object({
    step: z.number().int(),
    totalSteps: z.number().int(),
    loss: z.number().nullable(),
    tokensPerSecond: z.number().nullable(),
    etaSeconds: z.number().nullable(),
  })
  .meta({ id: "JobProgress" });

export const JobMetrics = z
  .object({
    trainLoss: z.number().nullable(),
    evalLoss: z.number().nullable(),
    evalPerplexity: z.number().nullable(),
    baseEvalLoss: z.number().nullable(),
    baseEvalPerplexity: z.number().nullable(),
    trainTokens: z.number().int(),
  })
  .meta({ id: "JobMetrics" });

export const Job = z
  .object({
    id: z.string(),
    owner: AddressSchema,
    /** private when any source Datanet is private: then only the owner sees the job and its adapter. */
    visibility: Visibility,
    status: JobStatus,
    datanets: z.array(DatanetVersionRef.extend({ root: Bytes32Hex })),
    baseModel: z.string(),
    lora: LoraSettings,
    training: TrainingSettings,
    progress: JobProgress.nullable(),
    metrics: JobMetrics.nullable(),
    /** Training loss per step (downsampled to at most 500 points) with held-out loss where evaluated. */
    lossCurve: z.array(LossPoint),
    /** Trainer runs so far (a retried run resumes from its last checkpoint). */
    attempts: z.number().int(),
    error: z.string().nullable(),
    adapterId: z.string().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: "Job" });
export type Job = z.infer<typeof Job>;

/**
 * What the trainer receives: everything resolved, nothing to look up but
 * blobs. Written to the blob store at `jobs/{jobId}/spec.json` and passed to
 * the compute by that key.
 */
export const JobSpec = z.object({
  jobId: z.string(),
  attempt: z.number().int().positive(),
  baseModel: z.object({
    id: z.string(),
    /** Blob prefix holding config.json, model.safetensors, tokenizer.json (HF layout). */
    prefix: z.string(),
    /** 0x sha256 of model.safetensors: part of the attribution fingerprint. */
    sha256: Bytes32Hex,
  }),
  datanets: z.array(
    z.object({
      id: z.string(),
      version: z.number().int(),
      root: Bytes32Hex,
      /** Blob key of the version's frozen records (JSONL, `{contributionId, contributor, contentHash, tokens, record}` per line). */
      recordsKey: z.string(),
      schema: z.enum(["text", "instruction", "chat"]),
    }),
  ),
  lora: LoraSettings,
  training: TrainingSettings,
  /** Blob prefix for everything the trainer writes: adapter/, checkpoints/, metrics.json, attribution.json. */
  outputPrefix: z.string(),
});
export type JobSpec = z.infer<typeof JobSpec>;

/**
 * What the trainer and the compute report about a run, sent to the
 * `job-events` queue. `seq` increases within an attempt, so a consumer can
 * drop stale or duplicate events; terminal events are idempotent by
 * (jobId, attempt, type).
 */
export const JobEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("started"), jobId: z.string(), attempt: z.number().int(), seq: z.number().int(), at: z.number(), resumedFromStep: z.number().int().nullable() }),
  z.object({
    type: z.literal("progress"),
    jobId: z.string(),
    attempt: z.number().int(),
    seq: z.number().int(),
    at: z.number(),
    step: z.number().int(),
    totalSteps: z.number().int(),
    loss: z.number(),
    tokensPerSecond: z.number(),
    etaSeconds: z.number(),
    evalLoss: z.number().optional(),
  }),
  z.object({ type: z.literal("evaluating"), jobId: z.string(), attempt: z.number().int(), seq: z.number().int(), at: z.number() }),
  z.object({
    type: z.literal("succeeded"),
    jobId: z.string(),
    attempt: z.number().int(),
    seq: z.number().int(),
    at: z.number(),
    metrics: JobMetrics,
  }),
  z.object({ type: z.literal("failed"), jobId: z.string(), attempt: z.number().int(), seq: z.number().int(), at: z.number(), reason: z.string(), retryable: z.boolean() }),
  /** From the compute, not the trainer: the process or Batch job ended (exit code null when killed by a signal). */
  z.object({ type: z.literal("exited"), jobId: z.string(), attempt: z.number().int(), seq: z.number().int(), at: z.number(), exitCode: z.number().int().nullable(), reason: z.string() }),
]);
export type JobEvent = z.infer<typeof JobEvent>;

/**
 * What the trainer writes to `{outputPrefix}attribution.json` beside the
 * adapter; finalize reads it to weight the Datanet versions and contributors
 * and to bind the training config into the fingerprint (docs/attribution.md).
 * Token counts are training tokens actually used (the held-out records
 * excluded), counted with the base model's tokenizer.
 */
export const TrainerAttribution = z
  .object({
    /** The trainer's name and version, e.g. "mf-trainer/1.0.0"; bound by trainingConfigHash. */
    trainerVersion: z.string().min(1).max(200),
    /** `trainingConfigHash(spec, trainerVersion)` (core/jobs/fingerprint.ts). */
    trainingConfigHash: Bytes32Hex,
    /** Training tokens used per contribution id. */
    tokensByContribution: z.record(z.string().min(1), z.number().int().nonnegative()),
    /** Training tokens used per contributor address (the sum over their contributions). */
    contributors: z.record(AddressSchema, z.number().int().nonnegative()),
    /** Training tokens used per Datanet version of the spec (every version listed, even at 0). */
    datanets: z
      .array(z.object({ id: z.string().min(1), version: z.number().int().positive(), root: Bytes32Hex, tokens: z.number().int().nonnegative() }))
      .min(1),
  })
  .meta({ id: "TrainerAttribution" });
export type TrainerAttribution = z.infer<typeof TrainerAttribution>;
