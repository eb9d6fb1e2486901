import { DynamoDB } from "@aws-sdk/client-dynamodb";
import { RateLimiterDynamo } from "rate-limiter-flexible";
import type { RateLimit, RateLimitName } from "../../core/ports/rate-limiter.ts";
import { FlexibleRateLimiter } from "./flexible-rate-limiter.ts";

/** The rate-limit table's key attribute and TTL attribute, as RateLimiterDynamo writes them (the CDK table matches). */
export const RATE_LIMIT_TABLE_KEY = "key";
export const RATE_LIMIT_TABLE_TTL = "expire";

/**
 * Counters in a DynamoDB table shared by every Lambda instance. The table is
 * created by the stack (partition key `key`, TTL on `expire`), so the limiter
 * never creates or alters tables itself (its role has no such permission).
 */
export function dynamoRateLimiter(limits: Record<RateLimitName, RateLimit>, options: { tableName: string; client?: DynamoDB }): FlexibleRateLimiter {
  const client = options.client ?? new DynamoDB({});
  return new FlexibleRateLimiter(
    limits,
    (name, limit) =>
      new RateLimiterDynamo({
        storeClient: client,
        tableName: options.tableName,
        tableCreated: true,
        ttlSet: true,
        keyPrefix: name,
        points: limit.points,
        duration: limit.durationSeconds,
      }),
  );
}
