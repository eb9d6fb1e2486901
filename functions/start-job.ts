import { awsJobDeps } from "./aws-job-deps.ts";
import { createStartJobHandler } from "./handlers/start-job.ts";

/** Lambda entry: jobs queue `{ jobId }` → startJobAttempt (submits to AWS Batch). */
export const handler = createStartJobHandler(awsJobDeps());
