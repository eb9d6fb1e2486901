import type { z } from "zod";
import { appendLossPoint } from "../../../core/jobs/loss-curve.ts";
import type { Job, JobProgress, JobStatus, LossPoint } from "../../../core/jobs/model.ts";

/** The payload of the job stream's `progress` event (api/routes/jobs.ts). */
export interface ProgressEvent {
  status: JobStatus;
  progress: z.infer<typeof JobProgress>;
  point: z.infer<typeof LossPoint> | null;
}

/** True once a job can change no more. */
export function isTerminalStatus(status: JobStatus): boolean {
  return status === "SUCCEEDED" || status === "FAILED" || status === "CANCELLED";
}

/** The job after a `progress` event: its status, progress, and the new loss point (the API's own curve rules). */
export function applyProgress(job: Job, event: ProgressEvent): Job {
  return {
    ...job,
    status: event.status,
    progress: event.progress,
    lossCurve: event.point ? appendLossPoint(job.lossCurve, event.point) : job.lossCurve,
  };
}

/** Share of training done in [0, 1], or undefined when the total is not known yet. */
export function progressFraction(job: Pick<Job, "status" | "progress">): number | undefined {
  if (job.status === "SUCCEEDED") return 1;
  const p = job.progress;
  if (!p || p.totalSteps <= 0) return undefined;
  return Math.min(1, Math.max(0, p.step / p.totalSteps));
}

/** Badge kind of a status: ok, bad, warn (in flight) or plain. */
export function statusKind(status: JobStatus): "ok" | "bad" | "warn" | "" {
  switch (status) {
    case "SUCCEEDED":
      return "ok";
    case "FAILED":
      return "bad";
    case "STARTING":
    case "RUNNING":
    case "EVALUATING":
      return "warn";
    default:
      return "";
  }
}
