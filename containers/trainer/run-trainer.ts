// One trainer run: job spec in, adapter + metrics + attribution out, job events along the way.
//   spec → checkpoint (resume) → started → base model → records → split → tokenize →
//   train on a worker thread (progress, checkpoints mirrored to the blob store) → evaluating →
//   adapter/, metrics.json, attribution.json → succeeded   (or failed, with a reason)
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { z } from "zod";
import { trainingConfigHash } from "../../core/jobs/fingerprint.ts";
import { JobEvent, type JobMetrics as JobMetricsSchema, JobSpec, TrainerAttribution } from "../../core/jobs/model.ts";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { QueueNames, type QueueSender } from "../../core/ports/queue.ts";
import { loadTokenizer, readSafetensors, type TrainEvent, type TrainResult } from "../engine/index.ts";
import { bundledModelDir, cachedModelDir, downloadBlob, readBlob } from "./blob-files.ts";
import { formatRecord, FrozenRecordLine, jsonLines, splitRecords } from "./records.ts";
import type { TrainWorkerInput, TrainWorkerMessage } from "./train-worker.ts";

/** Part of every training-config hash and attribution fingerprint: bump when training changes meaning. */
export const TRAINER_VERSION = "mf-trainer/1";

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
}

export type JobMetrics = z.infer<typeof JobMetricsSchema>;

export type TrainerOutcome =
  | { status: "succeeded"; metrics: JobMetrics }
  | { status: "failed"; reason: string; retryable: boolean }
  /** Stopped by the signal: the run resumes from `checkpointStep` (null: from the start). */
  | { status: "stopped"; step: number; checkpointStep: number | null };

/** `attribution.json` (core/jobs/model.ts TrainerAttribution): training tokens used, per contribution, contributor and Datanet version. */
export type TrainerAttributionFile = TrainerAttribution;

/** Bad input that no retry can fix (no usable records, a missing snapshot): failed, not retryable. */
export class TrainerInputError extends Error {
  override name = "TrainerInputError";
}

// Errors that say the job itself is wrong, not the machine it ran on.
const NOT_RETRYABLE = new Set(["TrainerInputError", "ModelFilesError", "TrainError", "LoraError", "ModelError", "SafetensorsError"]);

const LossCurveFile = z.object({ step: z.number().int(), lossCurve: z.array(z.object({ step: z.number().int(), loss: z.number(), evalLoss: z.number().optional() })) });
type LossPoint = z.infer<typeof LossCurveFile>["lossCurve"][number];

/**
 * Runs the job whose spec is at `specKey`: trains, evaluates and writes its outputs under the
 * spec's outputPrefix, reporting JobEvents to the job-events queue. A run that finds a
 * checkpoint under `{outputPrefix}checkpoints/` resumes from it and ends with the same weights
 * as an uninterrupted run. Never throws for a failed run: the outcome says how it ended.
 */
export async function runTrainer(deps: TrainerDeps, specKey: string, options: RunTrainerOptions = {}): Promise<TrainerOutcome> {
  const log = options.log ?? (() => {});
  const raw = await readBlob(deps.blobs, specKey);
  if (!raw) return { status: "failed", reason: `no job spec at ${specKey}`, retryable: false };
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    return { status: "failed", reason: `job spec ${specKey} is not JSON`, retryable: false };
  }
  const parsed = JobSpec.safeParse(json);
  if (!parsed.success) {
    const reason = `invalid job spec ${specKey}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
    // Report against the job when the spec at least names it.
    const id = z.object({ jobId: z.string(), attempt: z.number().int() }).safeParse(json);
    if (id.success) await new EventReporter(deps, id.data.jobId, id.data.attempt).send({ type: "failed", reason, retryable: false });
    return { status: "failed", reason, retryable: false };
  }
  const spec = parsed.data;
  const events = new EventReporter(deps, spec.jobId, spec.attempt);
  try {
    return await trainJob(deps, spec, events, options, log);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const retryable = !NOT_RETRYABLE.has(err.name);
    const reason = `${err.name === "Error" ? "" : `${err.name}: `}${err.message}`;
    log("trainer failed", { jobId: spec.jobId, attempt: spec.attempt, reason, retryable });
    await events.send({ type: "failed", reason, retryable });
    return { status: "failed", reason, retryable };
  }
}

async function trainJob(deps: TrainerDeps, spec: JobSpec, events: EventReporter, options: RunTrainerOptions, log: NonNullable<RunTrainerOptions["log"]>): Promise<TrainerOutcome> {
  const t0 = deps.clock.now();
  const workDir = options.workDir ?? join(tmpdir(), "mf-trainer");
  const out = spec.outputPrefix;
  const ckptKey = `${out}checkpoints/checkpoint.safetensors`, curveKey = `${out}checkpoints/loss-curve.json`;

  // The blob store holds the truth about progress: start from its checkpoint, not from local leftovers.
  const ckptDir = join(workDir, "jobs", spec.jobId, "checkpoints");
  await rm(ckptDir, { recursive: true, force: true });
  await mkdir(ckptDir, { recursive: true });
  let resumedFromStep: number | null = null;
  let lossCurve: LossPoint[] = [];
  if (await downloadBlob(deps.blobs, ckptKey, join(ckptDir, "checkpoint.safetensors"))) {
    const { metadata } = readSafetensors(await readFile(join(ckptDir, "checkpoint.safetensors")));
    resumedFromStep = Number(metadata.step);
    const curve = await readBlob(deps.blobs, curveKey);
    const saved = curve ? LossCurveFile.safeParse(JSON.parse(curve.toString("utf8"))) : null;
    if (saved?.success) lossCurve = saved.data.lossCurve.filter((p) => p.step <= resumedFromStep!);
    log("resuming from checkpoint", { step: resumedFromStep });
  }
  await events.send({ type: "started", resumedFromStep });

  const modelDir =
    (await bundledModelDir(spec.baseModel.sha256)) ??
    (await cachedModelDir(deps.blobs, spec.baseModel.prefix, spec.baseModel.sha256, join(workDir, "models")));
  const hf = JSON.parse(await readFile(join(modelDir, "config.json"), "utf8")) as { vocab_size?: number; max_position_embeddings?: number };
  if (typeof hf.vocab_size !== "number" || typeof hf.max_position_embeddings !== "number") throw new TrainerInputError("base model config.json lacks vocab_size or max_position_embeddings");
  const tokenizer = loadTokenizer(modelDir, hf.vocab_size);

  // Records of every Datanet version, formatted; a record in two versions trains once, credited to the first.
  const records: { contributionId: string; contributor: string; contentHash: string; datanet: number; text: string }[] = [];
  const seen = new Set<string>();
  let lines = 0, skipped = 0, duplicates = 0;
  for (const [datanet, ref] of spec.datanets.entries()) {
    const stream = await deps.blobs.get(ref.recordsKey);
    if (!stream) throw new TrainerInputError(`Datanet ${ref.id} version ${ref.version}: no records at ${ref.recordsKey}`);
    for await (const { value } of jsonLines(stream)) {
      lines++;
      const line = FrozenRecordLine.safeParse(value);
      const text = line.success ? formatRecord(ref.schema, line.data.record) : null;
      if (!line.success || text === null) {
        skipped++;
        continue;
      }
      if (seen.has(line.data.contentHash)) {
        duplicates++;
        continue;
      }
      seen.add(line.data.contentHash);
      records.push({ contributionId: line.data.contributionId, contributor: line.data.contributor, contentHash: line.data.contentHash, datanet, text });
    }
  }
  if (records.length < 2) throw new TrainerInputError(`no usable records: ${records.length} of ${lines} lines usable (${skipped} malformed); training needs at least 2, one is held out`);
  const split = splitRecords(records, spec.training.evalFraction, spec.training.seed);
  const encode = (text: string) => Int32Array.from(tokenizer.encode(text));
  const trainTokens = split.train.map((r) => encode(r.text));
  const heldOutTokens = split.heldOut.map((r) => encode(r.text));

  // Attribution: the tokens of each training-split record as the model's tokenizer counts them.
  const attribution: TrainerAttributionFile = {
    trainerVersion: TRAINER_VERSION,
    trainingConfigHash: trainingConfigHash(spec, TRAINER_VERSION),
    tokensByContribution: {},
    contributors: {},
    datanets: spec.datanets.map((d) => ({ id: d.id, version: d.version, root: d.root, tokens: 0 })),
  };
  split.train.forEach((r, i) => {
    const n = trainTokens[i]!.length;
    attribution.tokensByContribution[r.contributionId] = n;
    attribution.contributors[r.contributor] = (attribution.contributors[r.contributor] ?? 0) + n;
    attribution.datanets[r.datanet]!.tokens += n;
  });
  const trainTokenCount = trainTokens.reduce((s, t) => s + t.length, 0);
  log("records ready", { lines, skipped, duplicates, train: split.train.length, heldOut: split.heldOut.length, trainTokens: trainTokenCount });

  const t = spec.training;
  const input: TrainWorkerInput = {
    modelDir,
    seqLen: Math.min(options.maxSeqLen ?? 256, hf.max_position_embeddings),
    train: trainTokens,
    heldOut: heldOutTokens,
    lora: { r: spec.lora.rank, alpha: spec.lora.alpha, dropout: spec.lora.dropout, targets: spec.lora.targetModules },
    adapterId: spec.jobId,
    baseModelName: spec.baseModel.id,
    seed: t.seed,
    steps: t.maxSteps ?? null,
    epochs: t.epochs,
    config: {
      batchSize: t.batchSize, gradAccum: t.gradientAccumulation, lr: t.learningRate, warmupSteps: t.warmupSteps, weightDecay: t.weightDecay,
      clipNorm: t.clipNorm, evalEvery: t.evalEvery, evalSequences: 0, earlyStopPatience: t.earlyStopPatience,
      checkpointEvery: t.checkpointEvery, checkpointDir: ckptDir,
    },
    stop: new SharedArrayBuffer(4),
  };

  // Checkpoints go up one at a time; a newer one waiting replaces an older one not yet sent.
  let pending: { step: number; bytes: Uint8Array } | null = null, uploading: Promise<void> | null = null, uploadedStep = resumedFromStep;
  const drain = async () => {
    while (pending) {
      const c = pending;
      pending = null;
      try {
        await deps.blobs.put(ckptKey, c.bytes, { contentType: "application/octet-stream" });
        await deps.blobs.put(curveKey, JSON.stringify({ step: c.step, lossCurve: lossCurve.filter((p) => p.step <= c.step) }), { contentType: "application/json" });
        uploadedStep = c.step;
        log("checkpoint uploaded", { step: c.step });
      } catch (e) {
        log("checkpoint upload failed", { step: c.step, error: String(e) }); // the next one may succeed; a restart resumes from an older one
      }
    }
    uploading = null;
  };

  let totalSteps = 0, lastProgressAt = -Infinity, evaluating = false;
  const interval = options.progressIntervalMs ?? 1000;
  const startEvaluating = () => {
    if (evaluating) return;
    evaluating = true;
    void events.send({ type: "evaluating" });
  };
  const onEvent = (e: TrainEvent) => {
    if (e.type === "step") {
      lossCurve.push({ step: e.step, loss: e.loss });
      const now = deps.clock.now();
      if (now - lastProgressAt >= interval || e.step === e.totalSteps) {
        lastProgressAt = now;
        void events.progress({ step: e.step, totalSteps: e.totalSteps, loss: e.loss, tokensPerSecond: e.tokensPerSec, etaSeconds: e.etaSec });
      }
      if (e.step === e.totalSteps) startEvaluating();
    } else if (e.type === "eval" && !evaluating) {
      const point = lossCurve.findLast((p) => p.step === e.step);
      if (point) point.evalLoss = e.loss;
      void events.progress({ step: e.step, totalSteps, loss: point?.loss ?? e.loss, tokensPerSecond: 0, etaSeconds: 0, evalLoss: e.loss });
    } else if (e.type === "early-stop") startEvaluating();
  };

  const stopFlag = new Int32Array(input.stop);
  const onAbort = () => Atomics.store(stopFlag, 0, 1);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort);
  const worker = new Worker(new URL("./train-worker.ts", import.meta.url), { workerData: input });
  const ended = await new Promise<Extract<TrainWorkerMessage, { kind: "done" | "stopped" }>>((resolve, reject) => {
    worker.on("message", (m: TrainWorkerMessage) => {
      if (m.kind === "prepared") {
        totalSteps = m.totalSteps;
        log("training", { sequences: m.trainSequences, heldOutSequences: m.heldOutSequences, totalSteps, resumedFromStep });
      } else if (m.kind === "event") onEvent(m.event);
      else if (m.kind === "checkpoint") {
        pending = m;
        uploading ??= drain();
      } else if (m.kind === "done" || m.kind === "stopped") resolve(m);
      else if (m.kind === "error") reject(Object.assign(new Error(m.message), { name: m.name }));
    });
    worker.on("error", reject);
    worker.on("exit", (code) => reject(new Error(`training worker exited with code ${code} before finishing`)));
  }).finally(() => options.signal?.removeEventListener("abort", onAbort));
  await worker.terminate();
  while (uploading) await uploading;

  if (ended.kind === "stopped") {
    // No event: the compute reports the exit. On AWS, Batch itself reruns a Spot-reclaimed job
    // (same attempt, resuming from this checkpoint); a `failed` here would start a second run.
    log(`stopped at step ${ended.step}; ${uploadedStep === null ? "no checkpoint yet" : `resumes from the checkpoint at step ${uploadedStep}`}`, { step: ended.step, checkpointStep: uploadedStep });
    return { status: "stopped", step: ended.step, checkpointStep: uploadedStep };
  }
  startEvaluating();

  const { result } = ended;
  const finite = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? null : x);
  const trainLoss = finite(Number.isFinite(result.trainLoss) ? result.trainLoss : lossCurve.at(-1)?.loss);
  const metrics: JobMetrics = {
    trainLoss,
    evalLoss: finite(result.evalLoss),
    evalPerplexity: finite(result.evalLoss === null ? null : Math.exp(result.evalLoss)),
    baseEvalLoss: finite(result.baseEvalLoss),
    baseEvalPerplexity: finite(result.baseEvalLoss === null ? null : Math.exp(result.baseEvalLoss)),
    trainTokens: trainTokenCount,
  };
  const last = lossCurve.at(-1);
  if (last && last.step === result.steps && metrics.evalLoss !== null) last.evalLoss = metrics.evalLoss;

  await deps.blobs.put(`${out}adapter/adapter_config.json`, ended.adapterConfig, { contentType: "application/json" });
  await deps.blobs.put(`${out}adapter/adapter_model.safetensors`, ended.adapterWeights, { contentType: "application/octet-stream" });
  await deps.blobs.put(`${out}metrics.json`, JSON.stringify(metricsFile(spec, metrics, result, lossCurve, { totalSteps, resumedFromStep, lines, skipped, duplicates, train: split.train.length, heldOut: split.heldOut.length, seconds: (deps.clock.now() - t0) / 1000 }), null, 2), { contentType: "application/json" });
  await deps.blobs.put(`${out}attribution.json`, JSON.stringify(TrainerAttribution.parse(attribution), null, 2), { contentType: "application/json" });
  await events.send({ type: "succeeded", metrics });
  log("trainer succeeded", { jobId: spec.jobId, ...metrics });
  return { status: "succeeded", metrics };
}

/** `metrics.json`: the job's metrics, the whole loss curve and how the data was used. */
function metricsFile(spec: JobSpec, metrics: JobMetrics, result: TrainResult, lossCurve: LossPoint[], run: { totalSteps: number; resumedFromStep: number | null; lines: number; skipped: number; duplicates: number; train: number; heldOut: number; seconds: number }) {
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
