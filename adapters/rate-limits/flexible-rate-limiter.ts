import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { RATE_LIMIT_NAMES, type RateDecision, type RateLimit, type RateLimiter, type RateLimitName } from "../../core/ports/rate-limiter.ts";

/** Builds the rate-limiter-flexible limiter of one named limit (memory, DynamoDB, …). */
export type LimiterFactory = (name: RateLimitName, limit: RateLimit) => RateLimiterAbstract;

/**
 * The RateLimiter port over rate-limiter-flexible: one limiter per named
 * limit, keyed by `<name>:<key>` in whatever store the factory chose.
 */
export class FlexibleRateLimiter implements RateLimiter {
  readonly #limiters: Map<RateLimitName, RateLimiterAbstract>;

  constructor(limits: Record<RateLimitName, RateLimit>, make: LimiterFactory) {
    this.#limiters = new Map(RATE_LIMIT_NAMES.map((name) => [name, make(name, limits[name])]));
  }

  async consume(limit: RateLimitName, key: string): Promise<RateDecision> {
    const limiter = this.#limiters.get(limit);
    if (!limiter) throw new Error(`unknown rate limit ${limit}`);
    try {
      const res = await limiter.consume(key, 1);
      return { allowed: true, remaining: res.remainingPoints };
    } catch (rejection) {
      // rate-limiter-flexible rejects with a RateLimiterRes when over the limit, with an Error when its store fails.
      if (rejection instanceof RateLimiterRes) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
      throw rejection;
    }
  }
}
