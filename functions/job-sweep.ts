import { awsJobDeps } from "./aws-job-deps.ts";
import { createJobSweepHandler } from "./handlers/job-sweep.ts";

/** Lambda entry: scheduled EventBridge rule → sweepStaleJobs (heartbeat timeouts, lost queue messages). */
export const handler = createJobSweepHandler(awsJobDeps());
