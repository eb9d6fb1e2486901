import { BatchClient } from "@aws-sdk/client-batch";
import { SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { BatchCompute } from "../adapters/aws/batch-compute.ts";
import { SqsQueueSender } from "../adapters/aws/sqs-queue-sender.ts";
import type { JobDeps } from "../core/jobs/deps.ts";
import { awsDeps, readFunctionEnv } from "./aws-deps.ts";
import { tracer } from "./logger.ts";

/**
 * What the job functions (start-job, job-events, job-sweep) get besides the
 * common function environment: the jobs queue they (re)queue attempts on and
 * the Batch queue and job definition the trainer runs on.
 */
export const JobFunctionEnvSchema = z.object({
  JOBS_QUEUE_URL: z.url(),
  BATCH_JOB_QUEUE: z.string().min(1),
  BATCH_JOB_DEFINITION: z.string().min(1),
});
export type JobFunctionEnv = z.infer<typeof JobFunctionEnvSchema>;

/** The environment variable names, for the stack that sets them. */
export const JobFunctionEnvNames = Object.fromEntries(Object.keys(JobFunctionEnvSchema.shape).map((k) => [k, k])) as { [K in keyof JobFunctionEnv]-?: K };

/** JobDeps on DynamoDB, S3, SQS and AWS Batch; built once per cold start. */
export function awsJobDeps(env: Record<string, string | undefined> = process.env): JobDeps {
  const result = JobFunctionEnvSchema.safeParse(env);
  if (!result.success) {
    throw new Error(`Job function environment is incomplete: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const vars = result.data;
  const common = readFunctionEnv(env);
  const deps = awsDeps(env);
  const queue = new SqsQueueSender(tracer.captureAWSv3Client(new SQSClient({})), {
    jobs: vars.JOBS_QUEUE_URL,
    ...(common.WEBHOOKS_QUEUE_URL ? { webhooks: common.WEBHOOKS_QUEUE_URL } : {}),
  });
  return {
    ...deps,
    queue,
    compute: new BatchCompute(tracer.captureAWSv3Client(new BatchClient({})), { jobQueue: vars.BATCH_JOB_QUEUE, jobDefinition: vars.BATCH_JOB_DEFINITION }),
  };
}
