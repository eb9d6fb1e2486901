import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { DynamoTableStore, documentClientOptions } from "../adapters/aws/dynamo-table-store.ts";
import { S3BlobStore } from "../adapters/aws/s3-blob-store.ts";
import { SqsQueueSender } from "../adapters/aws/sqs-queue-sender.ts";
import { defaultConfig, limitsFrom } from "../core/config.ts";
import type { CoreDeps } from "../core/deps.ts";
import { systemClock } from "../core/ports/clock.ts";
import { tracer } from "./logger.ts";

/**
 * The environment a function gets from the stack: resource names and URLs
 * only, never secrets (those come from Secrets Manager at run time).
 */
export const FunctionEnvSchema = z.object({
  TABLE_MAIN: z.string().min(1),
  TABLE_CONTRIBUTIONS: z.string().min(1),
  BUCKET: z.string().min(1),
  /** A function only gets the URLs of queues it may send to. */
  INGEST_QUEUE_URL: z.url().optional(),
  WEBHOOKS_QUEUE_URL: z.url().optional(),
  WEBHOOKS_DLQ_URL: z.url().optional(),
  VERSIONS_QUEUE_URL: z.url().optional(),
  API_ORIGIN: z.url(),
  CHAIN_ID: z.coerce.number().int().positive(),
  MAX_UPLOAD_BYTES: z.coerce.number().int().positive().optional(),
  /** JSON overrides of the rate limits and quotas (see `limitsFrom`). */
  LIMITS: z.string().optional(),
  /** The DynamoDB table of rate-limit counters (the API function only). */
  RATE_LIMIT_TABLE: z.string().min(1).optional(),
});
export type FunctionEnv = z.infer<typeof FunctionEnvSchema>;

/** The environment variable names, for the stack that sets them. */
export const FunctionEnvNames = Object.fromEntries(Object.keys(FunctionEnvSchema.shape).map((k) => [k, k])) as {
  [K in keyof FunctionEnv]-?: K;
};

/** Reads the function environment, naming every missing or malformed variable. */
export function readFunctionEnv(env: Record<string, string | undefined>): FunctionEnv {
  const result = FunctionEnvSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Function environment is incomplete: ${problems}`);
  }
  return result.data;
}

/** CoreDeps on DynamoDB, S3 and SQS; built once per cold start. */
export function awsDeps(env: Record<string, string | undefined> = process.env): CoreDeps {
  const vars = readFunctionEnv(env);
  // Region and credentials come from the Lambda runtime's own environment.
  // Each SDK client traced: a subsegment per AWS call in the function's X-Ray trace.
  const doc = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), documentClientOptions);
  const queueUrls = {
    ...(vars.INGEST_QUEUE_URL ? { ingest: vars.INGEST_QUEUE_URL } : {}),
    ...(vars.WEBHOOKS_QUEUE_URL ? { webhooks: vars.WEBHOOKS_QUEUE_URL } : {}),
    ...(vars.WEBHOOKS_DLQ_URL ? { "webhooks-dlq": vars.WEBHOOKS_DLQ_URL } : {}),
    ...(vars.VERSIONS_QUEUE_URL ? { versions: vars.VERSIONS_QUEUE_URL } : {}),
  };
  return {
    tables: {
      main: new DynamoTableStore(doc, vars.TABLE_MAIN),
      contributions: new DynamoTableStore(doc, vars.TABLE_CONTRIBUTIONS),
    },
    blobs: new S3BlobStore(tracer.captureAWSv3Client(new S3Client({})), vars.BUCKET),
    queue: new SqsQueueSender(tracer.captureAWSv3Client(new SQSClient({})), queueUrls),
    clock: systemClock,
    config: {
      ...defaultConfig,
      apiOrigin: vars.API_ORIGIN,
      chainId: vars.CHAIN_ID,
      ...(vars.MAX_UPLOAD_BYTES ? { maxUploadBytes: vars.MAX_UPLOAD_BYTES } : {}),
      ...limitsFrom(vars.LIMITS),
      // The cloud never delivers webhooks to private or loopback addresses (SSRF).
      allowPrivateWebhookUrls: false,
    },
  };
}
