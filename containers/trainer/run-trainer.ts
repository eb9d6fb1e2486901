// One trainer run: job spec in, adapter + metrics + attribution out, job events along the way.
//   spec → checkpoint (resume) → started → base model → records → split → tokenize →
//   train on a worker thread (progress, checkpoints mirrored to the blob store) → evaluating →
//   adapter/, metrics.json, attribution.json → succeeded   (or failed, with a reason)
import { mkdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { z } from "zod";
import { trainingConfigHash } from "../../core/jobs/fingerprint.ts";
import { JobEvent, type JobMetrics as JobMetricsSchema, JobSpec, TrainerAttribution } from "../../core/jobs/model.ts";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { QueueNames, type QueueSender } from "../../core/ports/queue.ts";
import { loadTokenizer, readSafetensors, type TokenizedRecord, type Tokenizer, type TrainEvent, type TrainResult } from "../engine/index.ts";
import { bundledModelDir, cachedModelDir, downloadBlob, readBlob } from "./blob-files.ts";
import { deserializeTrainerError, JobSpecError, toTrainerError, TrainerInputError, TrainingCrashedError } from "./errors.ts";
import { withPromptNoise } from "./prompt-noise.ts";
import { formatRecordPieces, FrozenRecordLine, jsonLines, splitRecords, tokenizePieces, type TextPiece } from "./records.ts";
import type { TrainWorkerInput, TrainWorkerMessage } from "./train-worker.ts";
import { writeAttributionFiles } from "./attribution-step.ts";
import { trainWithTorch, type TorchBackendOptions, type TrainerBackend } from "./torch-backend.ts";

/** Part of every training-config hash and attribution fingerprint: bump when training changes meaning. */
// 2: packed records no longer attend to each other; instruction and chat records train on their responses only by default.
export const TRAINER_VERSION = "mf-trainer/2";

export interface TrainerDeps {
  blobs: BlobStore;
  queue: QueueSender;
  clock: Clock;
}

export interface RunTrainerOptions {
  /** Model cache and local checkpoints (default `$TMPDIR/mf-trainer`). */
  workDir?: string;
  /** Aborting stops training after the current step (or its checkpoint), sending no event: SIGTERM on a stop or Spot reclaim. */
  signal?: AbortSignal;
  /** Packed sequence length, capped at the model's context (default 256). */
  maxSeqLen?: number;
  /** Least wall time between two progress events (default 1000 ms); evaluations always report. */
  progressIntervalMs?: number;
  /** Structured log lines (default: none). */
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Who does the numeric work: the embedded engine on a worker thread (default) or PyTorch in a child process. */
  backend?: TrainerBackend;
  /** The PyTorch backend's interpreter, device and threads (backend "torch" only). */
  torch?: Omit<TorchBackendOptions, "signal" | "log">;
}

export type JobMetrics = z.infer<typeof JobMetricsSchema>;

export type TrainerOutcome =
  | { status: "succeeded"; metrics: JobMetrics }
  | { status: "failed"; reason: string; retryable: boolean }
  /** Stopped by the signal: the run resumes from `checkpointStep` (null: from the start). */
  | { status: "stopped"; step: number; checkpointStep: number | null };

/** `attribution.json` (core/jobs/model.ts TrainerAttribution): training tokens used, per contribution, contributor and Datanet version. */
export type TrainerAttributionFile = TrainerAttribution;

export { TrainerInputError } from "./errors.ts";

const LossCurveFile = z.object({ step: z.number().int(), lossCurve: z.array(z.object({ step: z.number().int(), loss: z.number(), evalLoss: z.number().optional() })) });
type LossPoint = z.infer<typeof LossCurveFile>["lossCurve"][number];
type Log = NonNullable<RunTrainerOptions["log"]>;

/**
 * Runs the job whose spec is at `specKey`: trains, evaluates and writes its outputs under the
 * spec's outputPrefix, reporting JobEvents to the job-events queue. A run that finds a
 * checkpoint under `{outputPrefix}checkpoints/` resumes from it and ends with the same weights
 * as an uninterrupted run. Never throws for a failed run: the outcome says how it ended.
 */
export async function runTrainer(deps: TrainerDeps, specKey: string, options: RunTrainerOptions = {}): Promise<TrainerOutcome> {
  const log = options.log ?? (() => {});
  let spec: JobSpec;
  try {
    spec = await readSpec(deps, specKey);
  } catch (e) {
    const err = toTrainerError(e);
    // Report against the job when the spec at least names it.
    if (err instanceof JobSpecError && err.job) await new EventReporter(deps, err.job.jobId, err.job.attempt).send({ type: "failed", reason: err.reason, retryable: false });
    return { status: "failed", reason: err.reason, retryable: err.retryable };
  }
  const events = new EventReporter(deps, spec.jobId, spec.attempt);
  try {
    return await trainJob(deps, spec, events, options, log);
  } catch (e) {
    const err = toTrainerError(e);
    log("trainer failed", { jobId: spec.jobId, attempt: spec.attempt, reason: err.reason, retryable: err.retryable });
    await events.send({ type: "failed", reason: err.reason, retryable: err.retryable });
    return { status: "failed", reason: err.reason, retryable: err.retryable };
  }
}

/** The job's steps, in order; each throws a TrainerError (or lets one through) when it cannot go on. */
async function trainJob(deps: TrainerDeps, spec: JobSpec, events: EventReporter, options: RunTrainerOptions, log: Log): Promise<TrainerOutcome> {
  const t0 = deps.clock.now();
  const workDir = options.workDir ?? join(tmpdir(), "mf-trainer");
  const ckpt = await restoreCheckpoint(deps, spec, join(workDir, "jobs", spec.jobId, "checkpoints"), log);
  await events.send({ type: "started", resumedFromStep: ckpt.resumedFromStep });

  const base = await prepareBaseModel(deps, spec, workDir);
  const data = await readRecords(deps, spec);
  const prepared = tokenizeAndAttribute(spec, data, base.tokenizer);
  log("records ready", { lines: data.lines, skipped: data.skipped, duplicates: data.duplicates, train: prepared.split.train.length, heldOut: prepared.split.heldOut.length, trainTokens: prepared.trainTokenCount });

  const input = workerInput(spec, base, prepared, ckpt.dir, options.maxSeqLen);
  const run = await trainOnWorker(deps, events, input, ckpt, options, log);
  if (run.ended.kind === "stopped") {
    // No event: the compute reports the exit. On AWS, Batch itself reruns a Spot-reclaimed job
    // (same attempt, resuming from this checkpoint); a `failed` here would start a second run.
    const checkpointStep = run.uploadedStep;
    log(`stopped at step ${run.ended.step}; ${checkpointStep === null ? "no checkpoint yet" : `resumes from the checkpoint at step ${checkpointStep}`}`, { step: run.ended.step, checkpointStep });
    return { status: "stopped", step: run.ended.step, checkpointStep };
  }
  run.startEvaluating();

  const metrics = jobMetrics(run.ended.result, ckpt.lossCurve, prepared.trainTokenCount);
  await writeOutputs(deps, spec, run.ended, metrics, ckpt.lossCurve, prepared.attribution, {
    totalSteps: run.totalSteps, resumedFromStep: ckpt.resumedFromStep, lines: data.lines, skipped: data.skipped, duplicates: data.duplicates,
    train: prepared.split.train.length, heldOut: prepared.split.heldOut.length, seconds: (deps.clock.now() - t0) / 1000,
  });
  // Per-call attribution: span index and gradient sketches of the training split beside the adapter (never fails the job).
  await writeAttributionFiles(deps.blobs, {
    outputPrefix: spec.outputPrefix, modelDir: base.dir, adapterConfig: run.ended.adapterConfig, adapterWeights: run.ended.adapterWeights, log,
    records: prepared.split.train.map((r, i) => ({ contributionId: r.contributionId, datanetId: spec.datanets[r.datanet]!.id, version: spec.datanets[r.datanet]!.version, contributor: r.contributor, ...prepared.train[i]! })),
  });
  await events.send({ type: "succeeded", metrics });
  log("trainer succeeded", { jobId: spec.jobId, ...metrics });
  return { status: "succeeded", metrics };
}

/** The JobSpec at `specKey`, or a JobSpecError saying why there is none. */
async function readSpec(deps: TrainerDeps, specKey: string): Promise<JobSpec> {
  const raw = await readBlob(deps.blobs, specKey);
  if (!raw) throw new JobSpecError(`no job spec at ${specKey}`, specKey);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new JobSpecError(`job spec ${specKey} is not JSON`, specKey);
  }
  const parsed = JobSpec.safeParse(json);
  if (parsed.success) return parsed.data;
  const reason = `invalid job spec ${specKey}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
  const id = z.object({ jobId: z.string(), attempt: z.number().int() }).safeParse(json);
  throw new JobSpecError(reason, specKey, id.success ? id.data : null);
}

interface RestoredCheckpoint {
  dir: string; // local checkpoint directory (emptied, then holding the downloaded checkpoint)
  key: string; // the checkpoint's blob key
  curveKey: string; // the loss curve saved with it
  resumedFromStep: number | null;
  lossCurve: LossPoint[]; // up to the checkpoint's step; the run appends to it
}

/** The blob store holds the truth about progress: start from its checkpoint, not from local leftovers. */
async function restoreCheckpoint(deps: TrainerDeps, spec: JobSpec, dir: string, log: Log): Promise<RestoredCheckpoint> {
  const key = `${spec.outputPrefix}checkpoints/checkpoint.safetensors`, curveKey = `${spec.outputPrefix}checkpoints/loss-curve.json`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const restored: RestoredCheckpoint = { dir, key, curveKey, resumedFromStep: null, lossCurve: [] };
  if (!(await downloadBlob(deps.blobs, key, join(dir, "checkpoint.safetensors")))) return restored;
  const { metadata } = readSafetensors(await readFile(join(dir, "checkpoint.safetensors")));
  const step = Number(metadata.step);
  restored.resumedFromStep = step;
  const curve = await readBlob(deps.blobs, curveKey);
  const saved = curve ? LossCurveFile.safeParse(JSON.parse(curve.toString("utf8"))) : null;
  if (saved?.success) restored.lossCurve = saved.data.lossCurve.filter((p) => p.step <= step);
  log("resuming from checkpoint", { step });
  return restored;
}

interface BaseModel {
  dir: string; // HF layout
  maxPositions: number;
  tokenizer: Tokenizer;
}

/** The job's base model on local disk (the bundled one, or downloaded and checked), with its tokenizer. */
async function prepareBaseModel(deps: TrainerDeps, spec: JobSpec, workDir: string): Promise<BaseModel> {
  const dir =
    (await bundledModelDir(spec.baseModel.sha256)) ??
    (await cachedModelDir(deps.blobs, spec.baseModel.prefix, spec.baseModel.sha256, join(workDir, "models")));
  const hf = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { vocab_size?: number; max_position_embeddings?: number };
  if (typeof hf.vocab_size !== "number" || typeof hf.max_position_embeddings !== "number") throw new TrainerInputError("base model config.json lacks vocab_size or max_position_embeddings");
  return { dir, maxPositions: hf.max_position_embeddings, tokenizer: loadTokenizer(dir, hf.vocab_size) };
}

interface TrainingRecord { contributionId: string; contributor: string; contentHash: string; datanet: number; pieces: TextPiece[] }
interface RecordsRead { records: TrainingRecord[]; lines: number; skipped: number; duplicates: number }

/** Records of every Datanet version, formatted; a record in two versions trains once, credited to the first. */
async function readRecords(deps: TrainerDeps, spec: JobSpec): Promise<RecordsRead> {
  const out: RecordsRead = { records: [], lines: 0, skipped: 0, duplicates: 0 };
  const seen = new Set<string>();
  for (const [datanet, ref] of spec.datanets.entries()) {
    const stream = await deps.blobs.get(ref.recordsKey);
    if (!stream) throw new TrainerInputError(`Datanet ${ref.id} version ${ref.version}: no records at ${ref.recordsKey}`);
    for await (const { value } of jsonLines(stream)) {
      out.lines++;
      const line = FrozenRecordLine.safeParse(value);
      const pieces = line.success ? formatRecordPieces(ref.schema, line.data.record) : null;
      if (!line.success || pieces === null) {
        out.skipped++;
        continue;
      }
      if (seen.has(line.data.contentHash)) {
        out.duplicates++;
        continue;
      }
      seen.add(line.data.contentHash);
      out.records.push({ contributionId: line.data.contributionId, contributor: line.data.contributor, contentHash: line.data.contentHash, datanet, pieces });
    }
  }
  if (out.records.length < 2) throw new TrainerInputError(`no usable records: ${out.records.length} of ${out.lines} lines usable (${out.skipped} malformed); training needs at least 2, one is held out`);
  return out;
}

interface PreparedData {
  split: { train: TrainingRecord[]; heldOut: TrainingRecord[] };
  train: TokenizedRecord[]; // the training split's records, in order (what attribution indexes)
  rows: TokenizedRecord[]; // what the model trains on: train, then its prompt-noise copies
  epochShare: number; // of the job's epochs per row: 1 / (1 + copies), so a record and its copies share the record's passes
  heldOut: TokenizedRecord[];
  trainTokenCount: number;
  attribution: TrainerAttributionFile;
}

/** Held-out split, token ids with the loss mask of `training.lossOn`, and the attribution of the training tokens. */
function tokenizeAndAttribute(spec: JobSpec, data: RecordsRead, tokenizer: Tokenizer): PreparedData {
  const split = splitRecords(data.records, spec.training.evalFraction, spec.training.seed);
  const lossOn = spec.training.lossOn ?? "completion";
  const encode = (text: string) => tokenizer.encode(text);
  const train = split.train.map((r) => tokenizePieces(encode, r.pieces, lossOn));
  const heldOut = split.heldOut.map((r) => tokenizePieces(encode, r.pieces, lossOn));
  // What the model trains on: the records, then their prompt-noise copies (never indexed or counted: they add no tokens of anyone's).
  const noise = spec.training.promptNoise;
  const rows = noise && noise.copies > 0 ? [...train, ...withPromptNoise(split.train.map((r) => r.pieces), { ...noise, seed: spec.training.seed }).slice(train.length).map((p) => tokenizePieces(encode, p, lossOn))] : train;
  // Attribution: the tokens of each training-split record as the model's tokenizer counts them.
  const attribution: TrainerAttributionFile = {
    trainerVersion: TRAINER_VERSION,
    trainingConfigHash: trainingConfigHash(spec, TRAINER_VERSION),
    tokensByContribution: {},
    contributors: {},
    datanets: spec.datanets.map((d) => ({ id: d.id, version: d.version, root: d.root, tokens: 0 })),
  };
  split.train.forEach((r, i) => {
    const n = train[i]!.tokens.length;
    attribution.tokensByContribution[r.contributionId] = n;
    attribution.contributors[r.contributor] = (attribution.contributors[r.contributor] ?? 0) + n;
    attribution.datanets[r.datanet]!.tokens += n;
  });
  // rows holds whole copies of train (none when the noise is off, rate 0 included), so this is 1 / (1 + copies made).
  return { split, train, rows, epochShare: train.length / rows.length, heldOut, trainTokenCount: train.reduce((s, t) => s + t.tokens.length, 0), attribution };
}

/** What the training worker needs, from the spec's LoRA and training settings. */
function workerInput(spec: JobSpec, base: BaseModel, data: PreparedData, checkpointDir: string, maxSeqLen = 256): TrainWorkerInput {
  const t = spec.training;
  return {
    modelDir: base.dir,
    seqLen: Math.min(maxSeqLen, base.maxPositions),
    train: data.rows,
    heldOut: data.heldOut,
    lora: { r: spec.lora.rank, alpha: spec.lora.alpha, dropout: spec.lora.dropout, targets: spec.lora.targetModules },
    adapterId: spec.jobId,
    baseModelName: spec.baseModel.id,
    seed: t.seed,
    steps: t.maxSteps ?? null,
    epochs: t.epochs * data.epochShare,
    config: {
      batchSize: t.batchSize, gradAccum: t.gradientAccumulation, lr: t.learningRate, warmupSteps: t.warmupSteps, weightDecay: t.weightDecay,
      clipNorm: t.clipNorm, evalEvery: t.evalEvery, evalSequences: 0, earlyStopPatience: t.earlyStopPatience,
      checkpointEvery: t.checkpointEvery, checkpointDir,
    },
    stop: new SharedArrayBuffer(4),
  };
}

type WorkerEnd = Extract<TrainWorkerMessage, { kind: "done" | "stopped" }>;

/**
 * Trains on the chosen backend (the engine on a worker thread, or PyTorch in a child process), relaying its events as job progress (appending to the loss
 * curve) and mirroring its checkpoints to the blob store; resolves when it is done or stopped.
 */
async function trainOnWorker(deps: TrainerDeps, events: EventReporter, input: TrainWorkerInput, ckpt: RestoredCheckpoint, options: RunTrainerOptions, log: Log) {
  const uploader = new CheckpointUploader(deps.blobs, ckpt, log);
  const relay = new ProgressRelay(events, deps.clock, ckpt.lossCurve, options.progressIntervalMs ?? 1000);
  const stopFlag = new Int32Array(input.stop);
  // Both backends post the same messages: the relay and the uploader do not know which one trains.
  const onMessage = (m: TrainWorkerMessage) => {
    if (m.kind === "prepared") {
      relay.totalSteps = m.totalSteps;
      log("training", { backend: options.backend ?? "engine", sequences: m.trainSequences, heldOutSequences: m.heldOutSequences, totalSteps: m.totalSteps, resumedFromStep: ckpt.resumedFromStep });
    } else if (m.kind === "event") relay.onEvent(m.event);
    else if (m.kind === "checkpoint") uploader.offer(m.step, m.bytes);
  };
  let ended: WorkerEnd;
  if (options.backend === "torch") ended = await trainWithTorch(input, onMessage, { ...options.torch, signal: options.signal, log });
  else {
    const onAbort = () => Atomics.store(stopFlag, 0, 1);
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener("abort", onAbort);
    const worker = new Worker(new URL("./train-worker.ts", import.meta.url), { workerData: input });
    try {
      ended = await new Promise<WorkerEnd>((resolve, reject) => {
        worker.on("message", (m: TrainWorkerMessage) => {
          if (m.kind === "done" || m.kind === "stopped") resolve(m);
          else if (m.kind === "error") reject(deserializeTrainerError(m.error));
          else onMessage(m);
        });
        worker.on("error", reject);
        worker.on("exit", (code) => reject(new TrainingCrashedError(code)));
      });
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      await worker.terminate();
    }
  }
  return { ended, totalSteps: relay.totalSteps, uploadedStep: await uploader.settled(), startEvaluating: () => relay.startEvaluating() };
}

/** Checkpoints go up one at a time; a newer one waiting replaces an older one not yet sent. */
class CheckpointUploader {
  #pending: { step: number; bytes: Uint8Array } | null = null;
  #uploading: Promise<void> | null = null;
  #uploadedStep: number | null;

  readonly #blobs: BlobStore;
  readonly #ckpt: RestoredCheckpoint;
  readonly #log: Log;

  constructor(blobs: BlobStore, ckpt: RestoredCheckpoint, log: Log) {
    this.#blobs = blobs;
    this.#ckpt = ckpt;
    this.#log = log;
    this.#uploadedStep = ckpt.resumedFromStep;
  }

  offer(step: number, bytes: Uint8Array): void {
    this.#pending = { step, bytes };
    this.#uploading ??= this.#drain();
  }

  /** Waits for uploads in flight; the step of the newest checkpoint in the blob store. */
  async settled(): Promise<number | null> {
    while (this.#uploading) await this.#uploading;
    return this.#uploadedStep;
  }

  async #drain(): Promise<void> {
    while (this.#pending) {
      const c = this.#pending;
      this.#pending = null;
      try {
        await this.#blobs.put(this.#ckpt.key, c.bytes, { contentType: "application/octet-stream" });
        await this.#blobs.put(this.#ckpt.curveKey, JSON.stringify({ step: c.step, lossCurve: this.#ckpt.lossCurve.filter((p) => p.step <= c.step) }), { contentType: "application/json" });
        this.#uploadedStep = c.step;
        this.#log("checkpoint uploaded", { step: c.step });
      } catch (e) {
        this.#log("checkpoint upload failed", { step: c.step, error: String(e) }); // the next one may succeed; a restart resumes from an older one
      }
    }
    this.#uploading = null;
  }
}

/** Training events as job progress (at most one per interval; evaluations always), and the loss curve. */
class ProgressRelay {
  totalSteps = 0;
  #lastProgressAt = -Infinity;
  #evaluating = false;

  readonly #events: EventReporter;
  readonly #clock: Clock;
  readonly #lossCurve: LossPoint[];
  readonly #intervalMs: number;

  constructor(events: EventReporter, clock: Clock, lossCurve: LossPoint[], intervalMs: number) {
    this.#events = events;
    this.#clock = clock;
    this.#lossCurve = lossCurve;
    this.#intervalMs = intervalMs;
  }

  startEvaluating(): void {
    if (this.#evaluating) return;
    this.#evaluating = true;
    void this.#events.send({ type: "evaluating" });
  }

  onEvent(e: TrainEvent): void {
    if (e.type === "step") {
      this.#lossCurve.push({ step: e.step, loss: e.loss });
      const now = this.#clock.now();
      if (now - this.#lastProgressAt >= this.#intervalMs || e.step === e.totalSteps) {
        this.#lastProgressAt = now;
        void this.#events.progress({ step: e.step, totalSteps: e.totalSteps, loss: e.loss, tokensPerSecond: e.tokensPerSec, etaSeconds: e.etaSec });
      }
      if (e.step === e.totalSteps) this.startEvaluating();
    } else if (e.type === "eval" && !this.#evaluating) {
      const point = this.#lossCurve.findLast((p) => p.step === e.step);
      if (point) point.evalLoss = e.loss;
      void this.#events.progress({ step: e.step, totalSteps: this.totalSteps, loss: point?.loss ?? e.loss, tokensPerSecond: 0, etaSeconds: 0, evalLoss: e.loss });
    } else if (e.type === "early-stop") this.startEvaluating();
  }
}

/** The job's metrics from the run's result; the final eval loss also goes onto the curve's last point. */
function jobMetrics(result: TrainResult, lossCurve: LossPoint[], trainTokens: number): JobMetrics {
  const finite = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? null : x);
  const metrics: JobMetrics = {
    trainLoss: finite(Number.isFinite(result.trainLoss) ? result.trainLoss : lossCurve.at(-1)?.loss),
    evalLoss: finite(result.evalLoss),
    evalPerplexity: finite(result.evalLoss === null ? null : Math.exp(result.evalLoss)),
    baseEvalLoss: finite(result.baseEvalLoss),
    baseEvalPerplexity: finite(result.baseEvalLoss === null ? null : Math.exp(result.baseEvalLoss)),
    trainTokens,
  };
  const last = lossCurve.at(-1);
  if (last && last.step === result.steps && metrics.evalLoss !== null) last.evalLoss = metrics.evalLoss;
  return metrics;
}

type RunSummary = { totalSteps: number; resumedFromStep: number | null; lines: number; skipped: number; duplicates: number; train: number; heldOut: number; seconds: number };

/** adapter/ (PEFT files), metrics.json and attribution.json under the spec's outputPrefix. */
async function writeOutputs(deps: TrainerDeps, spec: JobSpec, ended: Extract<WorkerEnd, { kind: "done" }>, metrics: JobMetrics, lossCurve: LossPoint[], attribution: TrainerAttributionFile, run: RunSummary): Promise<void> {
  const out = spec.outputPrefix;
  await deps.blobs.put(`${out}adapter/adapter_config.json`, ended.adapterConfig, { contentType: "application/json" });
  await deps.blobs.put(`${out}adapter/adapter_model.safetensors`, ended.adapterWeights, { contentType: "application/octet-stream" });
  await deps.blobs.put(`${out}metrics.json`, JSON.stringify(metricsFile(spec, metrics, ended.result, lossCurve, run), null, 2), { contentType: "application/json" });
  await deps.blobs.put(`${out}attribution.json`, JSON.stringify(TrainerAttribution.parse(attribution), null, 2), { contentType: "application/json" });
}

/** `metrics.json`: the job's metrics, the whole loss curve and how the data was used. */
function metricsFile(spec: JobSpec, metrics: JobMetrics, result: TrainResult, lossCurve: LossPoint[], run: RunSummary) {
  return {
    jobId: spec.jobId,
    attempt: spec.attempt,
    trainerVersion: TRAINER_VERSION,
    metrics,
    steps: result.steps,
    totalSteps: run.totalSteps,
    stoppedEarly: result.stoppedEarly,
    resumedFromStep: run.resumedFromStep,
    records: { lines: run.lines, malformed: run.skipped, duplicates: run.duplicates, train: run.train, heldOut: run.heldOut },
    lossCurve,
    wallSeconds: run.seconds,
  };
}

/** A JobEvent without the fields the reporter fills in. */
type EventBody = JobEvent extends infer E ? (E extends JobEvent ? Omit<E, "jobId" | "attempt" | "seq" | "at"> : never) : never;

/**
 * Sends one attempt's JobEvents in order. `seq` is the clock's milliseconds made strictly
 * increasing, not a counter from 1: a trainer restarted within the same attempt (AWS Batch
 * retries a Spot-reclaimed job with the same spec) must still send seqs above its last run's.
 * Progress is best effort; a terminal event that cannot be sent fails the run.
 */
class EventReporter {
  readonly #deps: TrainerDeps;
  readonly #jobId: string;
  readonly #attempt: number;
  #seq = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(deps: TrainerDeps, jobId: string, attempt: number) {
    this.#deps = deps;
    this.#jobId = jobId;
    this.#attempt = attempt;
  }

  progress(body: Omit<Extract<EventBody, { type: "progress" }>, "type">): Promise<void> {
    if (![body.loss, body.tokensPerSecond, body.etaSeconds].every(Number.isFinite)) return Promise.resolve();
    return this.send({ type: "progress", ...body }).catch(() => {});
  }

  send(body: Exclude<EventBody, { type: "exited" }>): Promise<void> {
    const now = this.#deps.clock.now();
    this.#seq = Math.max(this.#seq + 1, now);
    const event = JobEvent.parse({ ...body, jobId: this.#jobId, attempt: this.#attempt, seq: this.#seq, at: now });
    const sent = this.#chain.then(() => this.#deps.queue.send(QueueNames.jobEvents, event));
    this.#chain = sent.catch(() => {});
    return sent;
  }
}
