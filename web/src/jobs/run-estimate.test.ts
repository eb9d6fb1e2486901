import { describe, expect, it } from "vitest";
import { alice, bob } from "../../../test/fakes/datanet-fixtures.ts";
import { jobTestDeps, publishedDatanet } from "../../../test/fakes/job-fixtures.ts";
import { packDocuments } from "../../../containers/engine/packing.ts";
import { versionKey } from "../../../core/datanets/keys.ts";
import { getBaseModel, tokenizerCost } from "../../../core/jobs/base-models.ts";
import { createJob } from "../../../core/jobs/jobs.ts";
import { TrainingSettings } from "../../../core/jobs/model.ts";
import { MAX_STEPS } from "../../../core/jobs/recipe.ts";
import { MIN_USEFUL_STEPS, RECORD_PASSES_PER_JOB, estimateRun, scaledDefaults, type RunSettings } from "./run-estimate.ts";

// The API's own defaults for everything the estimate reads.
const { epochs, maxSteps, batchSize, gradientAccumulation, warmupSteps, evalFraction, evalEvery } = TrainingSettings.parse({});
const API_DEFAULTS: RunSettings = { epochs, maxSteps, batchSize, gradientAccumulation, warmupSteps, evalFraction, evalEvery };
const TINY = getBaseModel("mf-tiny-sotu")!;

/** Records whose model-token count the tokenizer cost makes exact: `preTokens` pre-tokens each. */
function uniform(records: number, preTokens: number) {
  const cost = tokenizerCost(TINY.id);
  return { data: { records, tokens: records * preTokens }, modelTokens: preTokens * cost.perIngestToken + cost.perRecord };
}

describe("run-estimate", () => {
  it("counts rows as the trainer packs them: whole records per row, in the model's tokens", () => {
    expect(tokenizerCost(TINY.id).perIngestToken).toBeGreaterThan(1);
    // 36, 50 and 106 positions a record (2.8 × pre-tokens + 21 template tokens, + 1): 3, 2 and 1 per 128-position row.
    for (const preTokens of [5, 10, 30]) {
      const { data, modelTokens } = uniform(100, preTokens);
      const e = estimateRun(data, API_DEFAULTS, TINY);
      const train = Array.from({ length: e.trainRecords }, () => ({ tokens: Int32Array.from({ length: modelTokens }, (_, i) => 3 + (i % 100)) }));
      expect(e.seqLen).toBe(TINY.contextLength);
      expect(e.sequences, `${preTokens} pre-tokens`).toBe(packDocuments(train, TINY.contextLength, { bos: 1, eos: 2 }).length);
      // The tokens a pass processes: every record's tokens and its EOS target.
      expect(e.tokensSeen / e.passes).toBeCloseTo(e.trainRecords * (modelTokens + 1), 6);
    }
  });

  it("counts steps like the trainer: ceil(epochs × rows / (batch × accumulation)); max steps overrides", () => {
    // 90 training records of 49 model tokens (10 pre-tokens): 2 a row, 45 rows.
    const { data } = uniform(100, 10);
    const e = estimateRun(data, { ...API_DEFAULTS, epochs: 3, batchSize: 4, gradientAccumulation: 2 }, TINY, 1_000);
    expect([e.trainRecords, e.heldOutRecords, e.sequences]).toEqual([90, 10, 45]);
    expect(e.steps).toBe(Math.ceil((3 * 45) / 8));
    expect(e.stepsExact).toBe(false);
    expect(e.tokensSeen).toBe(Math.round(e.steps * 8 * ((90 * 50) / 45)));
    expect(e.seconds).toBeCloseTo(e.tokensSeen / 1_000);
    const fixed = estimateRun(data, { ...API_DEFAULTS, maxSteps: 15 }, TINY);
    expect([fixed.steps, fixed.stepsExact]).toEqual([15, true]);
  });

  it("counts a model with no measured tokenizer cost in pre-tokens, as a lower bound", () => {
    const data = { records: 100, tokens: 9_900 };
    const unknown = estimateRun(data, API_DEFAULTS, { id: "not-measured", contextLength: 4_096 });
    expect(unknown.lowerBound).toBe(true);
    // Rows of the trainer's 256 positions (its cap), 99 tokens + 1 a record: 2 a row.
    expect([unknown.seqLen, unknown.sequences]).toEqual([256, 45]);
    expect(estimateRun(data, API_DEFAULTS, TINY).lowerBound).toBe(false);
  });

  it("warns that the API's unscaled defaults on a small Datanet learn nothing", () => {
    // 28 short records, like the capitals demo.
    const e = estimateRun({ records: 28, tokens: 420 }, API_DEFAULTS, TINY);
    expect(e.steps).toBeLessThan(MIN_USEFUL_STEPS);
    expect(e.warnings.join(" ")).toMatch(/barely moves/);
    expect(e.warnings.join(" ")).toMatch(/never reaches its peak/);
    expect(e.seconds).toBeUndefined();
  });

  it("proposes what createJob's recipe gives for the same Datanet, and estimates the steps those settings run", async () => {
    const deps = jobTestDeps();
    const texts = Array.from({ length: 40 }, (_, i) => `Record ${i} says that the capital of place number ${i} is a city called Town${i}.`);
    const version = await publishedDatanet(deps, bob, texts);
    const item = (await deps.tables.main.get(versionKey(version.datanetId, 1)))!;
    // The small Datanet as ingested, then the same version with a large Datanet's counts (createJob reads only the counts), then one the quota bounds.
    for (const counts of [undefined, { records: 200_000, tokens: 20_000_000 }, { records: 5_000, tokens: 50_000 }]) {
      if (counts) await deps.tables.main.put({ ...item, ...counts });
      const data = counts ?? { records: version.records, tokens: version.tokens };
      const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
      const d = scaledDefaults(data, API_DEFAULTS.evalFraction, TINY);
      const { epochs, batchSize, warmupSteps, evalEvery, checkpointEvery } = job.training;
      expect(d, `${data.records} records`).toEqual({ epochs, batchSize, warmupSteps, evalEvery, checkpointEvery });
      const e = estimateRun(data, { ...API_DEFAULTS, ...d }, TINY);
      // The recipe spaces six evaluations over the steps it counted: the estimate's steps are those.
      expect(Math.max(1, Math.round(e.steps / 6)), `${data.records} records`).toBe(job.training.evalEvery);
      expect(e.steps).toBeLessThanOrEqual(MAX_STEPS);
      expect(job.training.epochs * data.records).toBeLessThanOrEqual(RECORD_PASSES_PER_JOB);
      expect(e.warnings.filter((w) => !/never seen/.test(w)), `${data.records} records`).toEqual([]);
    }
  });

  it("keeps a large Datanet's run within the recipe's MAX_STEPS and warns that it covers only part of the data", () => {
    const data = { records: 200_000, tokens: 20_000_000 };
    const d = scaledDefaults(data, 0.1, TINY);
    const e = estimateRun(data, { ...API_DEFAULTS, ...d }, TINY);
    // MAX_STEPS binds (the passes are cut to hundredths, so the run ends within a hundredth of a pass under it), not the quota of record passes.
    expect(e.steps).toBeLessThanOrEqual(MAX_STEPS);
    expect(e.steps).toBeGreaterThan(MAX_STEPS - e.sequences / e.sequencesPerStep / 100);
    expect(d.epochs * data.records).toBeLessThan(RECORD_PASSES_PER_JOB);
    expect(e.passes).toBeLessThan(1);
    expect(e.warnings.join(" ")).toMatch(/never seen/);
  });

  it("keeps a Datanet of many short records within the per-job quota of record passes", () => {
    const data = { records: 5_000, tokens: 50_000 };
    const d = scaledDefaults(data, 0.1, TINY);
    expect(d.epochs).toBe(Math.floor((RECORD_PASSES_PER_JOB / data.records) * 100) / 100);
    expect(estimateRun(data, { ...API_DEFAULTS, ...d }, TINY).steps).toBeLessThan(MAX_STEPS);
  });

  it("refuses a run on fewer than two records", () => {
    expect(estimateRun({ records: 1, tokens: 10 }, API_DEFAULTS, TINY).blocked).toMatch(/at least 2/);
    expect(estimateRun({ records: 2, tokens: 10 }, API_DEFAULTS, TINY).blocked).toBeUndefined();
  });
});
