import { describe, expect, it } from "vitest";
import { DynamoTableStore } from "../adapters/aws/dynamo-table-store.ts";
import { S3BlobStore } from "../adapters/aws/s3-blob-store.ts";
import { awsDeps, FunctionEnvNames, readFunctionEnv } from "./aws-deps.ts";

const env = {
  TABLE_MAIN: "mf-main",
  TABLE_CONTRIBUTIONS: "mf-contributions",
  BUCKET: "mf-uploads",
  WEBHOOKS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks",
  API_ORIGIN: "https://api.example.com",
  CHAIN_ID: "8453",
  AWS_REGION: "us-east-1",
};

describe("awsDeps", () => {
  it("builds DynamoDB, S3 and SQS adapters and the config from names in the environment", async () => {
    const deps = awsDeps(env);
    expect(deps.tables.main).toBeInstanceOf(DynamoTableStore);
    expect(deps.tables.contributions).toBeInstanceOf(DynamoTableStore);
    expect(deps.blobs).toBeInstanceOf(S3BlobStore);
    expect(deps.config).toMatchObject({ apiOrigin: "https://api.example.com", chainId: 8453, allowPrivateWebhookUrls: false });
    // A function only reaches the queues it was given a URL for.
    await expect(deps.queue.send("ingest", {})).rejects.toThrow(/No SQS queue URL configured for queue "ingest"/);
  });

  it("names every missing or malformed variable", () => {
    expect(() => readFunctionEnv({ ...env, TABLE_MAIN: undefined, CHAIN_ID: "mainnet", API_ORIGIN: "not a url" })).toThrow(
      /TABLE_MAIN.*API_ORIGIN.*CHAIN_ID|TABLE_MAIN.*CHAIN_ID.*API_ORIGIN/,
    );
  });

  it("exports the variable names for the stack", () => {
    expect(FunctionEnvNames.TABLE_MAIN).toBe("TABLE_MAIN");
    expect(Object.keys(FunctionEnvNames)).toContain("WEBHOOKS_DLQ_URL");
  });
});
