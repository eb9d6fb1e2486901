import { describe, expect, it } from "vitest";
import { MAX_DELAY_SECONDS, retryDelaySeconds } from "./backoff.ts";

describe("retryDelaySeconds", () => {
  it("grows exponentially at the top of the jitter range", () => {
    const top = () => 0.999999;
    expect([1, 2, 3, 4].map((a) => retryDelaySeconds(a, top))).toEqual([10, 20, 40, 80]);
  });

  it("is capped at SQS's 900 s maximum delay", () => {
    expect(retryDelaySeconds(30, () => 0.999999)).toBe(MAX_DELAY_SECONDS);
    expect(retryDelaySeconds(7, () => 0.999999, { baseSeconds: 60, capSeconds: 5000 })).toBe(MAX_DELAY_SECONDS);
  });

  it("spreads uniformly over [0, ceiling] (full jitter)", () => {
    expect(retryDelaySeconds(3, () => 0)).toBe(0);
    expect(retryDelaySeconds(3, () => 0.5)).toBe(20);
    // A seeded LCG: every value stays in range, and they are not all equal.
    let seed = 42;
    const lcg = () => ((seed = (seed * 1664525 + 1013904223) % 2 ** 32) / 2 ** 32);
    const delays = Array.from({ length: 50 }, () => retryDelaySeconds(5, lcg));
    expect(delays.every((d) => Number.isInteger(d) && d >= 0 && d <= 160)).toBe(true);
    expect(new Set(delays).size).toBeGreaterThan(10);
  });

  it("refuses a non-positive attempt", () => {
    expect(() => retryDelaySeconds(0)).toThrow(RangeError);
  });
});
