import { describe, expect, it } from "vitest";
import { packRecords } from "../../../containers/engine/packing.ts";
import { MIN_USEFUL_STEPS, estimateRun, packedSequences, scaledDefaults, type RunSettings } from "./run-estimate.ts";

const API_DEFAULTS: RunSettings = { epochs: 3, maxSteps: undefined, batchSize: 8, gradientAccumulation: 1, warmupSteps: 10, evalFraction: 0.1, evalEvery: 25 };

describe("run-estimate", () => {
  it("packs exactly as the trainer does", () => {
    // Prepare: records of assorted lengths, as token ids.
    for (const lengths of [[5], [3, 4], [300], [255], [256], [10, 20, 30, 40, 200, 1, 7]]) {
      const records = lengths.map((n) => Array.from({ length: n }, (_, i) => i + 1));
      const tokens = lengths.reduce((a, b) => a + b, 0);
      // Act, Assess: the same number of sequences as the engine's packRecords with an EOS.
      expect(packedSequences(tokens, records.length, 256), lengths.join(",")).toBe(packRecords(records, 256, 0).length);
    }
  });

  it("counts steps like the trainer: ceil(epochs × sequences / (batch × accumulation))", () => {
    // 100 records of 99 tokens: 90 train → 90 × 100 tokens → 36 sequences of 256 (the last one short).
    const e = estimateRun({ records: 100, tokens: 9_900 }, API_DEFAULTS, 256, 1_000);
    expect([e.trainRecords, e.heldOutRecords, e.sequences]).toEqual([90, 10, 36]);
    expect(e.steps).toBe(Math.ceil((3 * 36) / 8));
    expect(e.tokensSeen).toBe(Math.round(e.steps * 8 * (9_000 / 36)));
    expect(e.seconds).toBeCloseTo(e.tokensSeen / 1_000);
    // max steps overrides epochs.
    expect(estimateRun({ records: 100, tokens: 9_900 }, { ...API_DEFAULTS, maxSteps: 15 }, 256).steps).toBe(15);
  });

  it("warns that the API's defaults on a small Datanet learn nothing", () => {
    // 28 short records, like the capitals demo: one step.
    const e = estimateRun({ records: 28, tokens: 420 }, API_DEFAULTS, 256);
    expect(e.steps).toBeLessThan(MIN_USEFUL_STEPS);
    expect(e.warnings.join(" ")).toMatch(/barely moves/);
    expect(e.warnings.join(" ")).toMatch(/never reaches its peak/);
    expect(e.seconds).toBeUndefined();
  });

  it("scales the defaults so a small Datanet gets a run that can learn", () => {
    const data = { records: 28, tokens: 420 };
    const d = scaledDefaults(data, 0.1, 256);
    const e = estimateRun(data, { ...API_DEFAULTS, ...d }, 256);
    expect(e.steps).toBeGreaterThanOrEqual(30);
    expect(e.warnings).toEqual([]);
    expect(d.batchSize).toBeLessThanOrEqual(e.sequences);
  });

  it("keeps a large Datanet's run bounded and warns when a run covers only part of the data", () => {
    const data = { records: 200_000, tokens: 20_000_000 };
    const d = scaledDefaults(data, 0.1, 256);
    const e = estimateRun(data, { ...API_DEFAULTS, ...d }, 256);
    expect(e.steps).toBeLessThanOrEqual(1_100);
    expect(e.passes).toBeLessThan(1);
    expect(e.warnings.join(" ")).toMatch(/never seen/);
  });

  it("refuses a run on fewer than two records", () => {
    expect(estimateRun({ records: 1, tokens: 10 }, API_DEFAULTS, 256).blocked).toMatch(/at least 2/);
    expect(estimateRun({ records: 2, tokens: 10 }, API_DEFAULTS, 256).blocked).toBeUndefined();
  });
});
