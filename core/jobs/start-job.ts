import { QueueNames } from "../ports/queue.ts";
import { claimRunningSlot } from "../quotas/jobs.ts";
import type { JobDeps } from "./deps.ts";
import { endAttemptWithFailure } from "./end-attempt.ts";
import type { JobItem } from "./items.ts";
import { writeSpec } from "./jobs.ts";
import { isTerminal, updateJob } from "./update-job.ts";

export type StartResult =
  | { started: true; attempt: number; externalId: string }
  | { started: false; reason: "no-such-job" | "not-queued" | "submit-failed" | "account-busy" };

/** How long a job whose account already runs its quota of jobs waits before it asks to start again. */
export const ACCOUNT_BUSY_RETRY_SECONDS = 30;

/**
 * The jobs-queue consumer: starts the next attempt of a QUEUED job. The job
 * is claimed first (STARTING, attempt + 1, conditional on its revision), so
 * a duplicate message or a concurrent consumer finds it no longer QUEUED and
 * does nothing. Then the attempt's spec is written and submitted to the
 * compute; a submit that fails counts as a failed (retryable) attempt.
 */
export async function startJobAttempt(deps: JobDeps, jobId: string): Promise<StartResult> {
  let busy = false;
  const claimed = await updateJob(deps, jobId, async (job) => {
    if (job.status !== "QUEUED") return undefined;
    // One account may hold at most `quotas.runningJobs` trainer slots; its other jobs wait their turn.
    const slot = await claimRunningSlot(deps, job.owner, jobId);
    busy = !slot.allowed;
    if (busy) return undefined;
    const now = deps.clock.now();
    return {
      next: { ...job, status: "STARTING", attempts: job.attempts + 1, externalId: null, heartbeatAt: now, lastSeq: -1, exitedAt: null, progress: job.progress },
      writes: [slot.write],
    };
  });
  if (!claimed.job) return { started: false, reason: "no-such-job" };
  if (busy) {
    // Ask again later; meanwhile other accounts' jobs take the free trainer slots.
    await deps.queue.send(QueueNames.jobs, { jobId }, { delaySeconds: ACCOUNT_BUSY_RETRY_SECONDS });
    return { started: false, reason: "account-busy" };
  }
  if (!claimed.changed) return { started: false, reason: "not-queued" };
  const attempt = claimed.job.attempts;

  let externalId: string;
  try {
    const specKey = await writeSpec(deps, claimed.job, attempt);
    ({ externalId } = await deps.compute.submit({ jobId, attempt, specKey }));
  } catch (error) {
    await updateJob(deps, jobId, (job) =>
      job.attempts === attempt && job.endedAttempt < attempt && !isTerminal(job.status)
        ? endAttemptWithFailure(deps, job, { reason: `could not start the trainer: ${(error as Error).message}`, retryable: true })
        : undefined,
    );
    return { started: false, reason: "submit-failed" };
  }

  // Record the run's id, unless the job moved on meanwhile (cancelled: stop the run we just started).
  let orphaned = false;
  await updateJob(deps, jobId, (job: JobItem) => {
    if (job.attempts !== attempt || isTerminal(job.status) || job.endedAttempt >= attempt) {
      orphaned = isTerminal(job.status) || job.attempts !== attempt;
      return undefined;
    }
    return { next: { ...job, externalId, heartbeatAt: Math.max(job.heartbeatAt, deps.clock.now()) } };
  });
  if (orphaned) await deps.compute.cancel(externalId);
  return { started: true, attempt, externalId };
}
