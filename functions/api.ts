import { dynamoRateLimiter } from "../adapters/rate-limits/dynamo-rate-limiter.ts";
import { readFunctionEnv } from "./aws-deps.ts";
import { awsJobDeps } from "./aws-job-deps.ts";
import { createApiHandler } from "./handlers/api.ts";

const deps = awsJobDeps();
const { RATE_LIMIT_TABLE } = readFunctionEnv(process.env);
if (!RATE_LIMIT_TABLE) throw new Error("Function environment is incomplete: RATE_LIMIT_TABLE is required by the API (rate limits shared by every instance)");

/** Lambda entry: HTTP API → hono app (with the Batch compute, so jobs can be created and cancelled, and rate limits in DynamoDB). */
export const handler = createApiHandler({ ...deps, rateLimiter: dynamoRateLimiter(deps.config.rateLimits, { tableName: RATE_LIMIT_TABLE }) });
