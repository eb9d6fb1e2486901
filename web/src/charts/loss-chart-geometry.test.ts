import { describe, expect, it } from "vitest";
import { lossChartGeometry, niceTicks, tickLabel, type ChartBox } from "./loss-chart-geometry.ts";

const box: ChartBox = { width: 600, height: 300, margin: { top: 10, right: 10, bottom: 40, left: 50 } };

describe("niceTicks", () => {
  it("picks 1-2-5 steps that cover the range", () => {
    expect(niceTicks(0, 15, 6)).toEqual([0, 5, 10, 15]);
    expect(niceTicks(0, 30, 6)).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(2.31, 3.07, 5)).toEqual([2.4, 2.6, 2.8, 3]);
    expect(niceTicks(0.1, 0.3, 2)).toEqual([0.1, 0.2, 0.3]);
    expect(niceTicks(5, 5)).toEqual([5]);
    expect(niceTicks(Number.NaN, 1)).toEqual([]);
  });

  it("labels with the digits the spacing needs", () => {
    expect(tickLabel(10, 5)).toBe("10");
    expect(tickLabel(2.4, 0.2)).toBe("2.4");
    expect(tickLabel(0.05, 0.01)).toBe("0.05");
  });
});

describe("lossChartGeometry", () => {
  it("maps steps and losses into the plot, with held-out points", () => {
    const g = lossChartGeometry([{ step: 1, loss: 4 }, { step: 5, loss: 3, evalLoss: 3.2 }, { step: 10, loss: 2 }], box, 20);
    expect(g.plot).toEqual({ x: 50, y: 10, width: 540, height: 250 });
    // x runs from step 0 to totalSteps, so step 10 of 20 sits mid-plot.
    expect(g.trainPoints[2]!.x).toBe(50 + 270);
    expect(g.trainPath.startsWith("M")).toBe(true);
    expect(g.trainPath.split("L")).toHaveLength(3);
    // A falling loss runs down the chart (SVG y grows downwards); everything is inside the plot.
    const ys = g.trainPoints.map((p) => p.y);
    expect(ys[0]!).toBeLessThan(ys[1]!);
    expect(ys[1]!).toBeLessThan(ys[2]!);
    for (const p of [...g.trainPoints, ...g.evalPoints]) {
      expect(p.y).toBeGreaterThanOrEqual(10);
      expect(p.y).toBeLessThanOrEqual(260);
    }
    expect(g.evalPoints).toEqual([expect.objectContaining({ step: 5, loss: 3.2 })]);
    // Ticks are in range and ordered; the y grid frames the data.
    expect(g.xTicks.at(-1)!.value).toBe(20);
    expect(g.yTicks[0]!.value).toBeLessThanOrEqual(2);
    expect(g.yTicks.at(-1)!.value).toBeGreaterThanOrEqual(4);
    for (const t of g.yTicks) expect(t.at).toBeGreaterThanOrEqual(9.99);
  });

  it("draws nothing (but axes) without points, and ignores non-finite losses", () => {
    const empty = lossChartGeometry([], box, null);
    expect(empty.trainPath).toBe("");
    expect(empty.yTicks.length).toBeGreaterThan(1);
    const g = lossChartGeometry([{ step: 1, loss: Number.NaN }, { step: 2, loss: 3 }], box);
    expect(g.trainPoints).toHaveLength(1);
    expect(g.trainPath).toMatch(/^M[\d.]+,[\d.]+$/);
  });
});
