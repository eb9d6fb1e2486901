import { awsJobDeps } from "./aws-job-deps.ts";
import { createApiHandler } from "./handlers/api.ts";

/** Lambda entry: HTTP API → hono app (with the Batch compute, so jobs can be created and cancelled). */
export const handler = createApiHandler(awsJobDeps());
