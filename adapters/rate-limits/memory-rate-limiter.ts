import { RateLimiterMemory } from "rate-limiter-flexible";
import type { RateLimit, RateLimitName } from "../../core/ports/rate-limiter.ts";
import { FlexibleRateLimiter } from "./flexible-rate-limiter.ts";

/** Counters in this process's memory: right for the local runtime, where one process serves the API. */
export function memoryRateLimiter(limits: Record<RateLimitName, RateLimit>): FlexibleRateLimiter {
  return new FlexibleRateLimiter(limits, (name, limit) => new RateLimiterMemory({ keyPrefix: name, points: limit.points, duration: limit.durationSeconds }));
}
