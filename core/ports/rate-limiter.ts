/**
 * Request rate limits: a named limit allows `points` requests per key (an
 * account, a client address) in a window of `durationSeconds`. The local
 * runtime keeps the counters in memory (one process serves the API); on AWS
 * they live in a DynamoDB table, so every Lambda instance sees the same count.
 */
export const RATE_LIMIT_NAMES = ["auth-nonce", "auth-sign-in", "api", "jobs-create", "uploads-create"] as const;
export type RateLimitName = (typeof RATE_LIMIT_NAMES)[number];

export interface RateLimit {
  /** Requests allowed per window. */
  points: number;
  /** Window length in seconds. */
  durationSeconds: number;
}

export type RateDecision = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Counts one request of `key` against the named limit. */
  consume(limit: RateLimitName, key: string): Promise<RateDecision>;
}
