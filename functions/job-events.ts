import { awsJobDeps } from "./aws-job-deps.ts";
import { createJobEventsHandler } from "./handlers/job-events.ts";

/** Lambda entry: job-events queue (trainer reports, Batch state changes) → applyJobEvent. */
export const handler = createJobEventsHandler(awsJobDeps());
