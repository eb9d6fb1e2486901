import type { Caller } from "../account.ts";
import { sameAddress } from "../datanets/access.ts";
import { canSee } from "../datanets/access.ts";
import { datanetKey, versionKey, versionRecordsBlobKey } from "../datanets/keys.ts";
import type { DatanetSchemaKind, Paged } from "../datanets/model.ts";
import { pageLimit, queryWithClientCursor } from "../datanets/paging.ts";
import type { CoreDeps } from "../deps.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import { newId } from "../ids.ts";
import { QueueNames } from "../ports/queue.ts";
import type { WriteOp } from "../ports/tables.ts";
import { countActiveJobs, jobSequences } from "../quotas/jobs.ts";
import { requireWithin, withAccountQuota } from "../quotas/quotas.ts";
import { getBaseModel, type BaseModel } from "./base-models.ts";
import type { JobDeps } from "./deps.ts";
import { DatanetVersionNotFoundError, DatanetVersionNotPublishedError, JobFinishedError, NotEnoughRecordsError, UnknownBaseModelError } from "./errors.ts";
import { jobFromItem, type JobItem } from "./items.ts";
import { activeJobKey, JOB_GSI_SK_PREFIX, jobKey, jobOutputPrefix, jobSpecBlobKey, ownerJobsGsiPk } from "./keys.ts";
import { CreateJobInput, JobStatus, type Job, type JobSpec } from "./model.ts";
import { withScaledDefaults } from "./recipe.ts";
import { isTerminal, updateJob } from "./update-job.ts";

/**
 * Creates a fine-tune job: checks every Datanet version (visible to the
 * caller, published), the base model and the hyper-parameters, records the
 * job QUEUED with a `job.queued` event, writes the first attempt's spec and
 * queues the job for the jobs consumer. `{ datanets }` alone is a valid input.
 */
export async function createJob(deps: CoreDeps, caller: Caller, input: unknown): Promise<Job> {
  const parsed = CreateJobInput.safeParse(input);
  if (!parsed.success) throw new ValidationError("Invalid job", parsed.error.issues);
  const { datanets: refs, lora } = parsed.data;
  const base = getBaseModel(parsed.data.baseModel);
  if (!base) throw new UnknownBaseModelError(parsed.data.baseModel);
  crossFieldChecks(parsed.data, base, input);

  const specDatanets: JobSpec["datanets"] = [];
  let records = 0, tokens = 0;
  let anyPrivate = false;
  for (const ref of refs) {
    const datanet = await deps.tables.main.get(datanetKey(ref.id));
    // Another account's private Datanet answers exactly like a missing one.
    if (!datanet || !canSee(datanet, caller)) throw new NotFoundError("Datanet");
    const version = await deps.tables.main.get(versionKey(ref.id, ref.version));
    if (!version) throw new DatanetVersionNotFoundError(ref.id, ref.version);
    if (version.state !== "published") throw new DatanetVersionNotPublishedError(ref.id, ref.version);
    records += version.records as number;
    tokens += (version.tokens as number | undefined) ?? 0;
    if (datanet.visibility !== "public") anyPrivate = true;
    specDatanets.push({
      id: ref.id,
      version: ref.version,
      root: version.root as string,
      recordsKey: versionRecordsBlobKey(ref.id, ref.version),
      schema: datanet.schema as DatanetSchemaKind,
    });
  }
  if (records < 2) throw new NotEnoughRecordsError(records);
  // What the caller left out of epochs, batch, warmup, evaluation and checkpoints follows the data.
  const training = withScaledDefaults(input, parsed.data.training, { records, tokens }, base, deps.config.quotas.sequencesPerJob);

  const now = deps.clock.now();
  const id = newId("job", now);
  const job: Job = {
    id,
    owner: caller.address,
    visibility: anyPrivate ? "private" : "public",
    status: "QUEUED",
    datanets: specDatanets.map((d) => ({ id: d.id, version: d.version, root: d.root })),
    baseModel: base.id,
    lora,
    training,
    progress: null,
    metrics: null,
    lossCurve: [],
    attempts: 0,
    error: null,
    adapterId: null,
    createdAt: new Date(now).toISOString(),
    startedAt: null,
    finishedAt: null,
  };
  const item: JobItem = {
    ...jobKey(id),
    gsi1pk: ownerJobsGsiPk(caller.address),
    gsi1sk: `${JOB_GSI_SK_PREFIX}${id}`,
    ...job,
    rev: 1,
    specDatanets,
    externalId: null,
    heartbeatAt: now,
    queuedAt: now,
    lastSeq: -1,
    endedAttempt: 0,
    lastProgressEventAt: null,
    exitedAt: null,
  };
  const sequences = jobSequences(training, records);
  const quotas = deps.config.quotas;
  requireWithin("sequencesPerJob", quotas.sequencesPerJob, 0, sequences, "training sequences");
  // The spec first: a job never exists without it (an orphaned spec is harmless).
  await writeSpec(deps, item, 1);
  // The job commits with the account's quota counters, so concurrent creations cannot overrun them.
  await withAccountQuota(deps, caller.address, async (state) => {
    const { queued } = await countActiveJobs(deps, caller.address);
    requireWithin("queuedJobs", quotas.queuedJobs, queued, 1, "queued jobs");
    requireWithin("sequencesPerDay", quotas.sequencesPerDay, state.sequencesToday, sequences, "training sequences today");
    const writes: WriteOp[] = [
      { put: item, condition: { notExists: true } },
      { put: { ...activeJobKey(id), jobId: id, createdAt: job.createdAt } },
      eventWrite("job.queued", { jobId: id, job }, [caller.address], now),
    ];
    return { change: { writes, addSequences: sequences }, result: undefined };
  });
  // Should this send be lost, the sweeper re-sends jobs queued too long.
  await deps.queue.send(QueueNames.jobs, { jobId: id });
  return job;
}

/** The spec the trainer reads for one attempt of a job. */
export function specFor(job: JobItem, attempt: number): JobSpec {
  const base = getBaseModel(job.baseModel);
  if (!base) throw new Error(`job ${job.id}: base model ${job.baseModel} left the catalog`);
  return {
    jobId: job.id,
    attempt,
    baseModel: { id: base.id, prefix: base.prefix, sha256: base.sha256 },
    datanets: job.specDatanets,
    lora: job.lora,
    training: job.training,
    outputPrefix: jobOutputPrefix(job.id),
  };
}

/** Writes an attempt's spec to `jobs/{jobId}/spec-{attempt}.json`; returns its key. */
export async function writeSpec(deps: Pick<CoreDeps, "blobs">, job: JobItem, attempt: number): Promise<string> {
  const key = jobSpecBlobKey(job.id, attempt);
  await deps.blobs.put(key, JSON.stringify(specFor(job, attempt), null, 2), { contentType: "application/json" });
  return key;
}

/** Checks that need more than one field (zod checks each field alone). */
function crossFieldChecks(input: CreateJobInput, base: BaseModel, raw: unknown): void {
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (input.lora.rank > base.hiddenSize) {
    issues.push({ path: ["lora", "rank"], message: `must be at most ${base.hiddenSize}, the hidden size of ${base.id}` });
  }
  if (new Set(input.lora.targetModules).size !== input.lora.targetModules.length) {
    issues.push({ path: ["lora", "targetModules"], message: "must not repeat a module" });
  }
  const refs = input.datanets.map((d) => `${d.id}#${d.version}`);
  refs.forEach((ref, i) => {
    if (refs.indexOf(ref) !== i) issues.push({ path: ["datanets", i], message: "names a Datanet version already listed" });
  });
  // A warmup the caller did not give is scaled below maxSteps (withScaledDefaults).
  const warmupGiven = (raw as { training?: { warmupSteps?: unknown } } | null)?.training?.warmupSteps !== undefined;
  if (warmupGiven && input.training.warmupSteps > 0 && input.training.maxSteps !== undefined && input.training.warmupSteps >= input.training.maxSteps) {
    issues.push({ path: ["training", "warmupSteps"], message: "must be below maxSteps" });
  }
  if (issues.length) throw new ValidationError("Invalid job", issues);
}

export interface ListJobsInput {
  status?: JobStatus;
  cursor?: string;
  limit?: number;
}

/** Items looked at per request at most when filtering by status. */
const SCAN_BUDGET = 2000;

/** The caller's jobs, newest first, optionally with one status. */
export async function listJobs(deps: CoreDeps, caller: Caller, input: ListJobsInput = {}): Promise<Paged<Job>> {
  const limit = pageLimit(input.limit, 20, 100);
  if (input.status !== undefined && !JobStatus.safeParse(input.status).success) throw new ValidationError(`Unknown status "${input.status}"`);
  const items: Job[] = [];
  let cursor = input.cursor;
  let scanned = 0;
  // Ask for no more rows than are still missing, so the cursor never skips a match.
  do {
    const page = await queryWithClientCursor(deps.tables.main, {
      pk: ownerJobsGsiPk(caller.address),
      index: "gsi1",
      skPrefix: JOB_GSI_SK_PREFIX,
      reverse: true,
      limit: Math.min(limit - items.length, SCAN_BUDGET - scanned),
      ...(cursor ? { cursor } : {}),
    });
    scanned += page.items.length;
    for (const item of page.items) if (!input.status || item.status === input.status) items.push(jobFromItem(item));
    cursor = page.cursor;
  } while (cursor && items.length < limit && scanned < SCAN_BUDGET);
  return { items, ...(cursor ? { nextCursor: cursor } : {}) };
}

/** The job item, when the caller owns it; NotFoundError otherwise (other accounts' jobs do not leak). */
export async function loadOwnedJob(deps: Pick<CoreDeps, "tables">, caller: Caller, jobId: string): Promise<JobItem> {
  const item = (await deps.tables.main.get(jobKey(jobId))) as JobItem | undefined;
  if (!item || !sameAddress(item.owner, caller.address)) throw new NotFoundError("Job");
  return item;
}

/**
 * The job item, when the caller may read it: every job on public data is
 * readable by anyone signed in (its adapter links to it); a job on private
 * data only by its owner, and to anyone else it does not exist.
 */
export async function loadReadableJob(deps: Pick<CoreDeps, "tables">, caller: Caller, jobId: string): Promise<JobItem> {
  const item = (await deps.tables.main.get(jobKey(jobId))) as JobItem | undefined;
  if (!item || !canReadJob(jobFromItem(item), caller)) throw new NotFoundError("Job");
  return item;
}

/** Whether the caller may read the job (public data: anyone; private data: the owner). */
export function canReadJob(job: Pick<Job, "owner" | "visibility">, caller: Caller): boolean {
  return job.visibility === "public" || sameAddress(job.owner, caller.address);
}

/** One job the caller may read. */
export async function getJob(deps: CoreDeps, caller: Caller, jobId: string): Promise<Job> {
  return jobFromItem(await loadReadableJob(deps, caller, jobId));
}

/**
 * Cancels one of the caller's jobs: CANCELLED with a `job.cancelled` event,
 * then the running attempt (if any) is stopped. A job that has ended is a
 * 409 `job-finished`. Events the stopped trainer still sends are ignored.
 */
export async function cancelJob(deps: JobDeps, caller: Caller, jobId: string): Promise<Job> {
  await loadOwnedJob(deps, caller, jobId);
  const { job } = await updateJob(deps, jobId, (current) => {
    if (isTerminal(current.status)) throw new JobFinishedError(jobId, current.status);
    const now = deps.clock.now();
    const externalId = current.externalId;
    return {
      next: { ...current, status: "CANCELLED", finishedAt: new Date(now).toISOString(), error: null },
      writes: [eventWrite("job.cancelled", { jobId, attempts: current.attempts }, [current.owner], now)],
      after: async () => {
        if (externalId) await deps.compute.cancel(externalId);
      },
    };
  });
  return jobFromItem(job!);
}
