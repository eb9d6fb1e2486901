import { QueueNames } from "../ports/queue.ts";
import type { JobDeps } from "./deps.ts";
import { endAttemptWithFailure } from "./end-attempt.ts";
import type { JobItem } from "./items.ts";
import { ACTIVE_JOBS_PK, jobKey } from "./keys.ts";
import { isTerminal, updateJob } from "./update-job.ts";

export interface SweepOptions {
  /** A running attempt with no sign of life for this long is treated as dead. Default 10 minutes. */
  heartbeatTimeoutMs?: number;
  /**
   * The same for an attempt still STARTING, whose trainer has not reported yet:
   * on AWS Batch a GPU instance may have to boot and pull the image first.
   * Default: heartbeatTimeoutMs.
   */
  startingTimeoutMs?: number;
  /** A job QUEUED this long is sent to the jobs queue again (its message may have been lost). Default 10 minutes. */
  queuedTimeoutMs?: number;
  /** How long a clean exit may wait for the trainer's own success report. Default 2 minutes. */
  exitGraceMs?: number;
}

export interface SweepResult {
  /** Jobs whose attempt was ended for lack of a heartbeat (or a clean exit with no report). */
  timedOut: string[];
  /** Queued jobs sent to the jobs queue again. */
  requeued: string[];
}

/**
 * The scheduled sweeper: nothing stays RUNNING forever. Attempts of
 * STARTING/RUNNING/EVALUATING jobs whose heartbeat is older than the timeout
 * are cancelled on the compute and count as failed ("no heartbeat for N s"),
 * so the retry policy applies; QUEUED jobs waiting too long are re-sent to
 * the jobs queue (a duplicate start is harmless). Reads only the active-job
 * markers, never the whole table.
 */
export async function sweepStaleJobs(deps: JobDeps, options: SweepOptions = {}): Promise<SweepResult> {
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 10 * 60_000;
  const startingTimeoutMs = options.startingTimeoutMs ?? heartbeatTimeoutMs;
  const queuedTimeoutMs = options.queuedTimeoutMs ?? 10 * 60_000;
  const exitGraceMs = options.exitGraceMs ?? 2 * 60_000;
  const result: SweepResult = { timedOut: [], requeued: [] };

  let cursor: string | undefined;
  do {
    const page = await deps.tables.main.query({ pk: ACTIVE_JOBS_PK, ...(cursor ? { cursor } : {}) });
    for (const marker of page.items) {
      const jobId = marker.sk;
      const job = (await deps.tables.main.get(jobKey(jobId))) as JobItem | undefined;
      if (!job || isTerminal(job.status)) {
        // A marker left behind (its job gone or ended): tidy it up.
        await deps.tables.main.delete({ pk: ACTIVE_JOBS_PK, sk: jobId });
        continue;
      }
      const now = deps.clock.now();
      if (job.status === "QUEUED") {
        if (now - job.queuedAt >= queuedTimeoutMs) {
          await updateJob(deps, jobId, (j) => (j.status === "QUEUED" && j.queuedAt === job.queuedAt ? { next: { ...j, queuedAt: now } } : undefined));
          await deps.queue.send(QueueNames.jobs, { jobId });
          result.requeued.push(jobId);
        }
        continue;
      }
      const silentFor = now - job.heartbeatAt;
      const timeoutMs = job.status === "STARTING" ? startingTimeoutMs : heartbeatTimeoutMs;
      const cleanExitUnreported = job.exitedAt !== null && now - job.exitedAt >= exitGraceMs;
      if (silentFor < timeoutMs && !cleanExitUnreported) continue;
      const attempt = job.attempts;
      const { changed } = await updateJob(deps, jobId, (j) => {
        // Only the attempt we judged, and only if it is still silent.
        if (j.attempts !== attempt || j.endedAttempt >= attempt || isTerminal(j.status) || j.status === "QUEUED") return undefined;
        const externalId = j.externalId;
        const reason = cleanExitUnreported
          ? "the trainer exited (code 0) without reporting success"
          : `no heartbeat for ${Math.round((now - j.heartbeatAt) / 1000)} s`;
        if (!cleanExitUnreported && now - j.heartbeatAt < (j.status === "STARTING" ? startingTimeoutMs : heartbeatTimeoutMs)) return undefined;
        const change = endAttemptWithFailure(deps, j, { reason, retryable: true });
        return {
          ...change,
          after: async () => {
            // Stop the silent run first, so a retry never trains beside it.
            if (externalId) await deps.compute.cancel(externalId);
            await change.after?.();
          },
        };
      });
      if (changed) result.timedOut.push(jobId);
    }
    cursor = page.cursor;
  } while (cursor);
  return result;
}
