import { describe, expect, it } from "vitest";
import { appendLossPoint, MAX_LOSS_POINTS } from "./loss-curve.ts";

describe("appendLossPoint", () => {
  it("never keeps more than the maximum, keeping the first, last and evaluated points", () => {
    let curve: { step: number; loss: number; evalLoss?: number }[] = [];
    for (let step = 1; step <= 5000; step++) curve = appendLossPoint(curve, { step, loss: 1 / step, ...(step % 250 === 0 ? { evalLoss: 2 / step } : {}) });
    expect(curve.length).toBeLessThanOrEqual(MAX_LOSS_POINTS);
    expect(curve.length).toBeGreaterThan(MAX_LOSS_POINTS / 2 - 1);
    expect(curve[0]!.step).toBe(1);
    expect(curve.at(-1)!.step).toBe(5000);
    expect(curve.filter((p) => p.evalLoss !== undefined)).toHaveLength(20);
    expect(curve.map((p) => p.step)).toEqual([...curve.map((p) => p.step)].sort((a, b) => a - b));
  });

  it("drops the steps a resumed attempt redoes", () => {
    let curve = [1, 2, 3, 4, 5].map((step) => ({ step, loss: step }));
    curve = appendLossPoint(curve, { step: 3, loss: 0.3 });
    expect(curve).toEqual([{ step: 1, loss: 1 }, { step: 2, loss: 2 }, { step: 3, loss: 0.3 }]);
  });
});
