import { describe, expect, it } from "vitest";
import { forEachLimit } from "./concurrency.ts";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("forEachLimit", () => {
  it("runs every item, never more than the limit at once", async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      peak = Math.max(peak, ++inFlight);
      await tick();
      seen.push(n);
      inFlight--;
    });
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
  });

  it("starts nothing new after a failure and throws it once the calls in flight end", async () => {
    const started: number[] = [];
    const attempt = forEachLimit([1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await tick();
      if (n === 1) throw new Error("boom");
    });
    await expect(attempt).rejects.toThrow("boom");
    expect(started).toEqual([1, 2]);
  });

  it("refuses a limit below one", async () => {
    await expect(forEachLimit([1], 0, async () => {})).rejects.toThrow(RangeError);
  });
});
