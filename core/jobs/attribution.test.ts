import { describe, expect, it } from "vitest";
import { splitBps } from "./attribution.ts";

describe("splitBps", () => {
  it("splits proportionally and always adds up to 10 000", () => {
    expect(splitBps([1, 1, 1])).toEqual([3334, 3333, 3333]);
    expect(splitBps([3, 1])).toEqual([7500, 2500]);
    expect(splitBps([5, 0])).toEqual([10_000, 0]);
    for (let seed = 1; seed < 200; seed++) {
      const amounts = Array.from({ length: 1 + (seed % 13) }, (_, i) => ((seed * 7919 + i * 104729) % 9973) + (i === 0 ? 1 : 0));
      const bps = splitBps(amounts);
      expect(bps.reduce((s, x) => s + x, 0)).toBe(10_000);
      const sum = amounts.reduce((s, a) => s + a, 0);
      // Each share is within one point of its exact value.
      bps.forEach((b, i) => expect(Math.abs(b - (amounts[i]! * 10_000) / sum)).toBeLessThan(1));
    }
  });

  it("gives the leftover points to the largest remainders", () => {
    // exact: 6666.67, 3333.33 → floors 6666 + 3333 = 9999; the larger remainder (0.67) gets the point.
    expect(splitBps([2, 1])).toEqual([6667, 3333]);
  });

  it("refuses zero tokens and bad counts", () => {
    expect(() => splitBps([0, 0])).toThrow(RangeError);
    expect(() => splitBps([1.5])).toThrow(RangeError);
    expect(() => splitBps([-1, 2])).toThrow(RangeError);
  });
});
