import { type BatchClient, SubmitJobCommand, TerminateJobCommand } from "@aws-sdk/client-batch";
import type { TrainingCompute } from "../../core/ports/training-compute.ts";

export interface BatchComputeOptions {
  /** Job queue name or ARN (the GPU queue: Spot first, on-demand after). */
  jobQueue: string;
  /** Job definition name, name:revision or ARN (the trainer image, `gpu: 1`). */
  jobDefinition: string;
}

/** Tags every trainer job carries; the state-change handler reads the run back from them. */
export const BatchTags = { jobId: "mf:job-id", attempt: "mf:attempt" } as const;

/** The Batch job name of an attempt: `mf-{jobId}-a{attempt}`, cut to Batch's alphabet and 128 characters. */
export function batchJobName(jobId: string, attempt: number): string {
  return `mf-${jobId.replace(/[^A-Za-z0-9_-]/g, "-")}`.slice(0, 120) + `-a${attempt}`;
}

/** The (jobId, attempt) a Batch job name was made from by batchJobName, when it was. */
export function parseBatchJobName(name: string): { jobId: string; attempt: number } | undefined {
  const m = /^mf-(.+)-a(\d+)$/.exec(name);
  return m ? { jobId: m[1]!, attempt: Number(m[2]) } : undefined;
}

/**
 * TrainingCompute on AWS Batch: one SubmitJob per attempt on the GPU job queue, the spec's
 * key passed as JOB_SPEC_KEY. Batch's own retries (Spot reclaims) rerun the same attempt;
 * how the run ends comes back through EventBridge (functions/handlers/batch-job-state.ts).
 */
export class BatchCompute implements TrainingCompute {
  readonly #client: BatchClient;
  readonly #options: BatchComputeOptions;

  constructor(client: BatchClient, options: BatchComputeOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** SubmitJob; the Batch job id is the external id. */
  async submit(run: { jobId: string; attempt: number; specKey: string }): Promise<{ externalId: string }> {
    const out = await this.#client.send(
      new SubmitJobCommand({
        jobName: batchJobName(run.jobId, run.attempt),
        jobQueue: this.#options.jobQueue,
        jobDefinition: this.#options.jobDefinition,
        containerOverrides: { environment: [{ name: "JOB_SPEC_KEY", value: run.specKey }] },
        tags: { [BatchTags.jobId]: run.jobId, [BatchTags.attempt]: String(run.attempt) },
        // the tags also go on the ECS task, so cost reports can name the job
        propagateTags: true,
      }),
    );
    if (!out.jobId) throw new Error(`Batch SubmitJob for ${run.jobId} attempt ${run.attempt} returned no job id`);
    return { externalId: out.jobId };
  }

  /** TerminateJob: cancels a job not yet started, stops a running one (SIGTERM, then SIGKILL). */
  async cancel(externalId: string): Promise<void> {
    await this.#client.send(new TerminateJobCommand({ jobId: externalId, reason: "Cancelled by the Model Factory" }));
  }
}
