import { awsJobDeps } from "./aws-job-deps.ts";
import { createJobSweepHandler } from "./handlers/job-sweep.ts";

/** Lambda entry: scheduled EventBridge rule → sweepStaleJobs (heartbeat timeouts, lost queue messages). */
// A Batch attempt may wait for a GPU instance to boot (from 0 vCPUs) and pull the image before its trainer reports.
export const handler = createJobSweepHandler(awsJobDeps(), { sweep: { startingTimeoutMs: 45 * 60_000 } });
