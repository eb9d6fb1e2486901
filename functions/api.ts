import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoTableStore, documentClientOptions } from "../adapters/aws/dynamo-table-store.ts";
import { dynamoRateLimiter } from "../adapters/rate-limits/dynamo-rate-limiter.ts";
import { readFunctionEnv } from "./aws-deps.ts";
import { awsJobDeps } from "./aws-job-deps.ts";
import { createApiHandler } from "./handlers/api.ts";
import { tracer } from "./logger.ts";

const deps = awsJobDeps();
const { RATE_LIMIT_TABLE } = readFunctionEnv(process.env);
if (!RATE_LIMIT_TABLE) throw new Error("Function environment is incomplete: RATE_LIMIT_TABLE is required by the API (rate limits shared by every instance)");

/** Lambda entry: HTTP API → hono app (with the Batch compute, so jobs can be created and cancelled, and rate limits in DynamoDB). */
// With pay-per-call deployed (infra/lib/settlement.ts): the usage, usage/{requestId} and rewards routes on the usage table.
// Claim status is not asked of the chain here (the API has no RPC), so rewards show `claimed: null`.
const usageTable = process.env.TABLE_USAGE;
const payments = usageTable ? { usage: new DynamoTableStore(DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), documentClientOptions), usageTable) } : undefined;

export const handler = createApiHandler({ ...deps, rateLimiter: dynamoRateLimiter(deps.config.rateLimits, { tableName: RATE_LIMIT_TABLE }), ...(payments ? { payments } : {}) });
