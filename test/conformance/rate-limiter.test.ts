import type { AddressInfo } from "node:net";
import { CreateTableCommand, DescribeTableCommand, DynamoDB } from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dynamoRateLimiter, RATE_LIMIT_TABLE_KEY } from "../../adapters/rate-limits/dynamo-rate-limiter.ts";
import { memoryRateLimiter } from "../../adapters/rate-limits/memory-rate-limiter.ts";
import { RATE_LIMIT_NAMES, type RateLimit, type RateLimiter, type RateLimitName } from "../../core/ports/rate-limiter.ts";

const limits = Object.fromEntries(RATE_LIMIT_NAMES.map((n) => [n, { points: 3, durationSeconds: 60 }])) as Record<RateLimitName, RateLimit>;

/** The same behaviour from every store: both deployments limit alike. */
function rateLimiterSuite(name: string, make: () => RateLimiter) {
  describe(`RateLimiter conformance: ${name}`, () => {
    it("allows `points` requests per key and window, then refuses with a retry delay", async () => {
      const limiter = make();
      const key = `acct-${Math.random()}`;
      const decisions = [];
      for (let i = 0; i < 4; i++) decisions.push(await limiter.consume("api", key));
      expect(decisions.slice(0, 3).map((d) => d.allowed)).toEqual([true, true, true]);
      expect(decisions[2]).toEqual({ allowed: true, remaining: 0 });
      expect(decisions[3]!.allowed).toBe(false);
      const refused = decisions[3] as { retryAfterSeconds: number };
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
    });

    it("counts keys and limits apart", async () => {
      const limiter = make();
      const key = `ip-${Math.random()}`;
      for (let i = 0; i < 3; i++) await limiter.consume("auth-nonce", key);
      expect((await limiter.consume("auth-nonce", key)).allowed).toBe(false);
      expect((await limiter.consume("auth-nonce", `${key}-other`)).allowed).toBe(true);
      expect((await limiter.consume("auth-sign-in", key)).allowed).toBe(true);
    });
  });
}

rateLimiterSuite("memory (local runtime)", () => memoryRateLimiter(limits));

describe("DynamoDB store (dynalite)", () => {
  let server: ReturnType<typeof dynalite>;
  let client: DynamoDB;
  const tableName = "rate-limits";
  beforeAll(async () => {
    server = dynalite({ createTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    client = new DynamoDB({ endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "x" } });
    // The table as the stack creates it: partition key `key` (the limiter never creates tables itself).
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: RATE_LIMIT_TABLE_KEY, AttributeType: "S" }],
        KeySchema: [{ AttributeName: RATE_LIMIT_TABLE_KEY, KeyType: "HASH" }],
      }),
    );
    for (let i = 0; i < 200; i++) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (Table?.TableStatus === "ACTIVE") break;
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  afterAll(async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  rateLimiterSuite("dynamo (AWS)", () => dynamoRateLimiter(limits, { tableName, client }));

  it("shares one count between two Lambda instances", async () => {
    const first = dynamoRateLimiter(limits, { tableName, client });
    const second = dynamoRateLimiter(limits, { tableName, client });
    const key = `shared-${Math.random()}`;
    await first.consume("jobs-create", key);
    await second.consume("jobs-create", key);
    await first.consume("jobs-create", key);
    expect((await second.consume("jobs-create", key)).allowed).toBe(false);
  });
});
