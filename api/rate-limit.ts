import type { Context, MiddlewareHandler } from "hono";
import { RateLimitedError } from "../core/errors.ts";
import type { RateLimiter, RateLimitName } from "../core/ports/rate-limiter.ts";
import type { AppEnv } from "./env.ts";

/** Who a request counts against: an account, a client address. Undefined: the request is not limited by this rule. */
export type RateKey = (c: Context<AppEnv>) => string | undefined;

/** Counts each request against the named limit; over it the request fails with 429 `rate-limited` and Retry-After. */
export function rateLimit(limiter: RateLimiter, limit: RateLimitName, key: RateKey): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return next();
    const who = key(c);
    if (who !== undefined) {
      const decision = await limiter.consume(limit, who);
      if (!decision.allowed) throw new RateLimitedError(limit, decision.retryAfterSeconds);
    }
    return next();
  };
}

/** The signed-in account (set by the auth middleware), lower-cased. */
export const byAccount: RateKey = (c) => c.get("caller")?.address.toLowerCase();
