// The trainer's errors. Each says whether a retry can help (`retryable`), so a failed run is
// classified where it fails, by type, rather than afterwards by matching error names.
import { LoraError, ModelError, SafetensorsError, TrainError } from "../engine/index.ts";
import { ModelFilesError } from "./blob-files.ts";

/** Base of every trainer error: sets `name` and carries whether a retry may succeed. */
export class TrainerError extends Error {
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.retryable = retryable;
  }

  /** What a `failed` job event says: "Name: message". */
  get reason(): string {
    return `${this.name}: ${this.message}`;
  }
}

/** Bad input that no retry can fix (no usable records, a missing snapshot, a bad model config). */
export class TrainerInputError extends TrainerError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, false, options);
  }
}

/** The job spec is missing, not JSON or not a JobSpec; `job` when it at least names one. */
export class JobSpecError extends TrainerError {
  readonly specKey: string;
  readonly job: { jobId: string; attempt: number } | null;

  constructor(message: string, specKey: string, job: { jobId: string; attempt: number } | null = null) {
    super(message, false);
    this.specKey = specKey;
    this.job = job;
  }

  override get reason(): string {
    return this.message;
  }
}

/**
 * The engine or the model files refused the job (ModelError, LoraError, TrainError,
 * SafetensorsError, ModelFilesError, also from inside the training worker): the same job
 * would fail the same way again.
 */
export class JobRejectedError extends TrainerError {
  /** The refusing error's name, e.g. "LoraError". */
  readonly source: string;

  constructor(source: string, message: string) {
    super(message, false);
    this.source = source;
  }

  override get reason(): string {
    return `${this.source}: ${this.message}`;
  }
}

/** The training worker died before it finished: the machine, not the job, may be at fault. */
export class TrainingCrashedError extends TrainerError {
  /** The worker's exit code. */
  readonly exitCode: number;

  constructor(exitCode: number) {
    super(`training worker exited with code ${exitCode} before finishing`, true);
    this.exitCode = exitCode;
  }

  override get reason(): string {
    return this.message;
  }
}

/** Anything else (I/O, the network, the blob store, a bug): a retry may help. */
export class UnexpectedTrainerError extends TrainerError {
  /** The original error's name ("Error", "TypeError", …). */
  readonly source: string;

  constructor(source: string, message: string, options?: ErrorOptions) {
    super(message, true, options);
    this.source = source;
  }

  override get reason(): string {
    return this.source === "Error" ? this.message : `${this.source}: ${this.message}`;
  }
}

/** Errors of the engine and the model files that mean the job itself is wrong. */
const JOB_ERRORS = [ModelError, LoraError, TrainError, SafetensorsError, ModelFilesError] as const;

/**
 * Any thrown value as a TrainerError: trainer errors as they are, engine and model-file errors
 * as JobRejectedError, anything else as UnexpectedTrainerError.
 */
export function toTrainerError(e: unknown): TrainerError {
  if (e instanceof TrainerError) return e;
  if (JOB_ERRORS.some((E) => e instanceof E)) return new JobRejectedError((e as Error).name, (e as Error).message);
  const err = e instanceof Error ? e : new Error(String(e));
  return new UnexpectedTrainerError(err.name, err.message, { cause: err });
}

/** A TrainerError as it crosses from the training worker: plain data (a thread cannot post a class). */
export interface SerializedTrainerError {
  name: string;
  source: string;
  message: string;
  retryable: boolean;
}

/** The error the worker posts: classified there, where the engine's classes are at hand. */
export function serializeTrainerError(e: unknown): SerializedTrainerError {
  const err = toTrainerError(e);
  return { name: err.name, source: err instanceof JobRejectedError || err instanceof UnexpectedTrainerError ? err.source : err.name, message: err.message, retryable: err.retryable };
}

/** The worker's posted error as a TrainerError again, keeping its classification. */
export function deserializeTrainerError(s: SerializedTrainerError): TrainerError {
  if (s.name === "JobRejectedError") return new JobRejectedError(s.source, s.message);
  if (s.name === "TrainerInputError") return new TrainerInputError(s.message);
  return s.retryable ? new UnexpectedTrainerError(s.source, s.message) : new JobRejectedError(s.source, s.message);
}
