/**
 * Where trainer runs happen: a child process locally, an AWS Batch job on a
 * GPU queue in the cloud. The compute starts `containers/trainer` with the
 * spec's blob key; the trainer and the compute report back through the
 * `job-events` queue (core/jobs/model.ts JobEvent).
 */
export interface TrainingCompute {
  /** Starts one attempt; returns the compute's id for it (pid, Batch job id). Must not block on the run. */
  submit(run: { jobId: string; attempt: number; specKey: string }): Promise<{ externalId: string }>;
  /** Stops an attempt if it still runs; harmless when it has ended. */
  cancel(externalId: string): Promise<void>;
}
