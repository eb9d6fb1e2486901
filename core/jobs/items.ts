import type { Item } from "../ports/tables.ts";
import type { Job, JobSpec } from "./model.ts";

/**
 * A job item: the public Job plus the bookkeeping of its runs. The extra
 * fields never leave the table (`jobFromItem` picks the public ones).
 */
export type JobItem = Item &
  Job & {
    /** Optimistic-concurrency counter: every update is conditional on it. */
    rev: number;
    /** The resolved Datanet versions the spec lists (records key, schema). */
    specDatanets: JobSpec["datanets"];
    /** Compute id (pid, Batch job id) of the current attempt. */
    externalId: string | null;
    /** Epoch ms of the last sign of life of the current attempt (or when it was queued/started). */
    heartbeatAt: number;
    /** Epoch ms when the job was last (re)queued. */
    queuedAt: number;
    /** Highest trainer `seq` applied within the current attempt. */
    lastSeq: number;
    /** The last attempt whose outcome (success, failure) has been applied; its later events are ignored. */
    endedAttempt: number;
    /** Event time (ms) of the last `job.progress` event written (throttling). */
    lastProgressEventAt: number | null;
    /** Set when the compute reported a clean exit before the trainer reported an outcome. */
    exitedAt: number | null;
  };

/** The public shape of a job item. */
export function jobFromItem(item: Item): Job {
  const j = item as JobItem;
  return {
    id: j.id,
    owner: j.owner,
    // Jobs recorded before visibility existed were owner-only: they stay so.
    visibility: j.visibility ?? "private",
    status: j.status,
    datanets: j.datanets,
    baseModel: j.baseModel,
    lora: j.lora,
    training: j.training,
    progress: j.progress,
    metrics: j.metrics,
    lossCurve: j.lossCurve,
    attempts: j.attempts,
    error: j.error,
    adapterId: j.adapterId,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
  };
}
