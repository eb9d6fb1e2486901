import { eventWrite } from "../events.ts";
import type { JobDeps } from "./deps.ts";
import { endAttemptWithFailure } from "./end-attempt.ts";
import { FinalizeError, finalizeJob } from "./finalize.ts";
import type { JobItem } from "./items.ts";
import { appendLossPoint } from "./loss-curve.ts";
import type { JobEvent } from "./model.ts";
import { isTerminal, updateJob, type JobChange } from "./update-job.ts";

/** `job.progress` events are written at most this often per job (event time), plus the first. */
export const PROGRESS_EVENT_INTERVAL_MS = 10_000;

export type ApplyResult = "applied" | "ignored";

/**
 * The job-events consumer: moves a job through its states by what the
 * trainer and the compute report. Idempotent and order-tolerant: events of
 * another attempt than the current one, of an attempt whose outcome is
 * already applied, or (for started/progress/evaluating) with a `seq` not
 * above the last applied one are ignored, and terminal states are final.
 *
 * - started → RUNNING (`job.started`); progress → progress, loss curve,
 *   heartbeat (`job.progress`, throttled); evaluating → EVALUATING;
 * - succeeded → finalize: adapter record, SUCCEEDED (`job.succeeded`,
 *   `adapter.created`); output that does not check out fails the attempt;
 * - failed, or exited with a non-zero code or a signal → retry while the
 *   policy allows (QUEUED, back on the jobs queue), else FAILED (`job.failed`);
 * - exited with code 0 before any outcome: noted; the trainer's own report
 *   may still be on its way, so the sweeper fails the attempt only after a grace period.
 */
export async function applyJobEvent(deps: JobDeps, event: JobEvent): Promise<ApplyResult> {
  const { changed } = await updateJob(deps, event.jobId, (job) => decide(deps, job, event));
  return changed ? "applied" : "ignored";
}

async function decide(deps: JobDeps, job: JobItem, event: JobEvent): Promise<JobChange | undefined> {
  if (isTerminal(job.status)) return undefined;
  if (event.attempt !== job.attempts || job.endedAttempt >= event.attempt) return undefined;
  const now = deps.clock.now();
  const heartbeatAt = Math.max(job.heartbeatAt, now);

  switch (event.type) {
    case "started": {
      if (event.seq <= job.lastSeq) return undefined;
      const becameRunning = job.status === "STARTING";
      return {
        next: {
          ...job,
          status: job.status === "STARTING" ? "RUNNING" : job.status,
          startedAt: job.startedAt ?? new Date(event.at).toISOString(),
          lastSeq: event.seq,
          heartbeatAt,
        },
        writes: becameRunning
          ? [eventWrite("job.started", { jobId: job.id, attempt: event.attempt, resumedFromStep: event.resumedFromStep }, [job.owner], now)]
          : [],
      };
    }
    case "progress": {
      if (event.seq <= job.lastSeq) return undefined;
      const progress = { step: event.step, totalSteps: event.totalSteps, loss: event.loss, tokensPerSecond: event.tokensPerSecond, etaSeconds: event.etaSeconds };
      const point = { step: event.step, loss: event.loss, ...(event.evalLoss !== undefined ? { evalLoss: event.evalLoss } : {}) };
      const announce = job.lastProgressEventAt === null || event.at - job.lastProgressEventAt >= PROGRESS_EVENT_INTERVAL_MS;
      return {
        next: {
          ...job,
          // A lost or late `started` does not keep the job STARTING.
          status: job.status === "STARTING" ? "RUNNING" : job.status,
          startedAt: job.startedAt ?? new Date(event.at).toISOString(),
          progress,
          lossCurve: appendLossPoint(job.lossCurve, point),
          lastSeq: event.seq,
          heartbeatAt,
          lastProgressEventAt: announce ? event.at : job.lastProgressEventAt,
        },
        writes: announce ? [eventWrite("job.progress", { jobId: job.id, attempt: event.attempt, ...progress, ...(event.evalLoss !== undefined ? { evalLoss: event.evalLoss } : {}) }, [job.owner], now)] : [],
      };
    }
    case "evaluating": {
      if (event.seq <= job.lastSeq) return undefined;
      return { next: { ...job, status: "EVALUATING", startedAt: job.startedAt ?? new Date(event.at).toISOString(), lastSeq: event.seq, heartbeatAt } };
    }
    case "succeeded": {
      try {
        return await finalizeJob(deps, job, event);
      } catch (error) {
        if (!(error instanceof FinalizeError)) throw error;
        return endAttemptWithFailure(deps, job, { reason: `finalize: ${error.message}`, retryable: true });
      }
    }
    case "failed":
      return endAttemptWithFailure(deps, job, { reason: event.reason, retryable: event.retryable });
    case "exited": {
      if (event.exitCode === 0) {
        // Usually `succeeded` came first and this is a no-op; otherwise give the trainer's report time to arrive.
        return job.exitedAt === null ? { next: { ...job, exitedAt: now } } : undefined;
      }
      const how = event.exitCode === null ? "was killed" : `exited with code ${event.exitCode}`;
      return endAttemptWithFailure(deps, job, { reason: `the trainer ${how}${event.reason ? `: ${event.reason}` : ""}`, retryable: true });
    }
  }
}
