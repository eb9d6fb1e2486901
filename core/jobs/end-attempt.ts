import { eventWrite } from "../events.ts";
import { QueueNames } from "../ports/queue.ts";
import type { CoreDeps } from "../deps.ts";
import type { JobItem } from "./items.ts";
import type { JobChange } from "./update-job.ts";

/** Trainer runs a job gets at most (the first and two retries). */
export const MAX_ATTEMPTS = 3;

/** Seconds before a retry starts: a little breathing room for whatever failed (a reclaimed Spot instance, a busy GPU). */
export const retryDelaySeconds = (attempt: number) => Math.min(900, 5 * attempt);

export interface AttemptFailure {
  reason: string;
  /** False when running it again cannot help (bad data, a bug the trainer recognised). */
  retryable: boolean;
}

/**
 * The change that ends a job's current attempt without success: back to
 * QUEUED (and onto the jobs queue, after a short delay) while retries remain
 * and the failure is retryable, else FAILED with the reason and `job.failed`.
 * The next attempt resumes from the trainer's last checkpoint.
 */
export function endAttemptWithFailure(deps: Pick<CoreDeps, "queue" | "clock">, job: JobItem, failure: AttemptFailure): JobChange {
  const now = deps.clock.now();
  const attempt = job.attempts;
  const ended: JobItem = { ...job, endedAttempt: attempt, externalId: null, exitedAt: null, error: failure.reason };
  if (failure.retryable && attempt < MAX_ATTEMPTS) {
    return {
      next: { ...ended, status: "QUEUED", queuedAt: now, heartbeatAt: now },
      after: () => deps.queue.send(QueueNames.jobs, { jobId: job.id }, { delaySeconds: retryDelaySeconds(attempt) }),
    };
  }
  const reason = failure.retryable ? `${failure.reason} (gave up after ${attempt} attempts)` : failure.reason;
  return {
    next: { ...ended, status: "FAILED", error: reason, finishedAt: new Date(now).toISOString() },
    writes: [eventWrite("job.failed", { jobId: job.id, reason, attempts: attempt }, [job.owner], now)],
  };
}
