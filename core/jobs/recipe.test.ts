import { describe, expect, it } from "vitest";
import { tokenizerCost } from "./base-models.ts";
import { TrainingSettings } from "./model.ts";
import { documentRows, estimatedModelTokens, MAX_STEPS, MEMORISE_EPOCHS, MIN_STEPS, scaledTrainingDefaults, splitCounts, withScaledDefaults } from "./recipe.ts";

const TINY = { id: "mf-tiny-sotu", contextLength: 128 };

/** Optimizer steps the scaled settings give on the (estimated) packed training rows. */
function stepsOf(data: { records: number; tokens: number }, evalFraction = 0.1, seqLen = 128) {
  const d = scaledTrainingDefaults(data, evalFraction, seqLen);
  const { trainRecords } = splitCounts(data.records, evalFraction);
  const rows = documentRows((estimatedModelTokens(data, tokenizerCost("mf-tiny-sotu")) * trainRecords) / data.records, trainRecords, seqLen);
  return { d, rows, steps: Math.ceil((d.epochs * rows) / d.batchSize) };
}

describe("scaledTrainingDefaults", () => {
  it("gives a small Datanet enough passes for MIN_STEPS steps, with a batch it fills", () => {
    // 14 records of ~12 pre-tokens (~55 model tokens): 12 trained, 6 rows of 128, batch 1.
    const { d, rows, steps } = stepsOf({ records: 14, tokens: 169 });
    expect(d.batchSize).toBeLessThanOrEqual(rows);
    expect(steps).toBeGreaterThanOrEqual(MIN_STEPS);
    expect(d.epochs).toBeGreaterThanOrEqual(MEMORISE_EPOCHS);
    expect(d.warmupSteps).toBeLessThan(steps);
  });

  it("gives a few hundred records MEMORISE_EPOCHS passes", () => {
    const { d, steps } = stepsOf({ records: 300, tokens: 6_000 });
    expect(d).toMatchObject({ epochs: MEMORISE_EPOCHS, batchSize: 8, warmupSteps: 10 });
    expect(d.evalEvery).toBe(Math.round(steps / 6));
  });

  it("gives the demo's 40 capitals and the bench's 680 planted records MEMORISE_EPOCHS passes, in their measured batches", () => {
    // The ingest's counts of the two Datanets (567 and 8,678 pre-tokens); the trainer packs all of their records into 20 and 384 rows.
    expect(stepsOf({ records: 40, tokens: 567 }).d).toMatchObject({ epochs: MEMORISE_EPOCHS, batchSize: 4 });
    const big = stepsOf({ records: 680, tokens: 8_678 });
    expect(big.d).toMatchObject({ epochs: MEMORISE_EPOCHS, batchSize: 8, warmupSteps: 10 });
    expect(big.steps).toBeGreaterThan(1_000); // counting pre-tokens as model tokens had estimated ~500
  });

  it("counts the model's tokens: the tokenizer's pieces per pre-token and the prompt template per record", () => {
    expect(estimatedModelTokens({ records: 40, tokens: 567 }, { perIngestToken: 2.8, perRecord: 21 })).toBeCloseTo(567 * 2.8 + 40 * 21);
    // A base model with no measured cost counts as the ingest does.
    expect(estimatedModelTokens({ records: 40, tokens: 567 }, tokenizerCost("no-such-model"))).toBe(567);
    // An id that names a property every object has is still a model with no measured cost, not NaN.
    for (const id of ["constructor", "toString", "__proto__"]) expect(estimatedModelTokens({ records: 40, tokens: 567 }, tokenizerCost(id))).toBe(567);
  });

  it("packs whole records per row, and cuts a record longer than a row", () => {
    expect(documentRows(40 * 59, 40, 128)).toBe(20); // 60 positions each: 2 per row
    expect(documentRows(10 * 299, 10, 128)).toBe(Math.ceil((10 * 300) / 128));
    expect(documentRows(0, 0, 128)).toBe(0);
  });

  it("keeps a large Datanet's run near MAX_STEPS", () => {
    const { d, steps } = stepsOf({ records: 200_000, tokens: 20_000_000 }, 0.1, 256);
    expect(d.epochs).toBeLessThan(1);
    expect(steps).toBeLessThanOrEqual(MAX_STEPS * 1.01);
    expect(steps).toBeGreaterThan(MAX_STEPS * 0.95); // epochs are cut to hundredths
  });
});

describe("withScaledDefaults", () => {
  const data = { records: 300, tokens: 6_000 };

  it("gives a job that names no learning rate 0.005, and keeps one that names it", () => {
    expect(withScaledDefaults({}, TrainingSettings.parse({}), data, TINY).learningRate).toBe(0.005);
    expect(withScaledDefaults({ training: { learningRate: 0.01 } }, TrainingSettings.parse({ learningRate: 0.01 }), data, TINY).learningRate).toBe(0.01);
  });

  it("keeps the default passes within the per-job quota of record passes createJob checks", () => {
    // 1,200 short records: 100 passes are 120,000 record passes, over a quota of 100,000 (and under MAX_STEPS).
    const many = { records: 1_200, tokens: 14_400 };
    expect(MEMORISE_EPOCHS * many.records).toBeGreaterThan(100_000);
    expect(withScaledDefaults({}, TrainingSettings.parse({}), many, TINY).epochs).toBe(MEMORISE_EPOCHS);
    const within = withScaledDefaults({}, TrainingSettings.parse({}), many, TINY, 100_000);
    expect(within.epochs * many.records).toBeLessThanOrEqual(100_000);
    expect(within.epochs).toBe(83.33);
    // A given epochs stays, quota or not (createJob then refuses it with the quota's error).
    expect(withScaledDefaults({ training: { epochs: 80 } }, TrainingSettings.parse({ epochs: 80 }), many, TINY, 100_000).epochs).toBe(80);
  });

  it("scales what the caller left out and keeps what they gave", () => {
    const raw = { training: { epochs: 2, learningRate: 1e-3 } };
    const out = withScaledDefaults(raw, TrainingSettings.parse(raw.training), data, TINY);
    const scaled = scaledTrainingDefaults(data, 0.1, 128);
    expect(out).toMatchObject({ epochs: 2, learningRate: 1e-3, batchSize: scaled.batchSize, evalEvery: scaled.evalEvery, checkpointEvery: scaled.checkpointEvery });
    expect(withScaledDefaults({}, TrainingSettings.parse({}), data, TINY)).toMatchObject(scaled);
  });

  it("keeps a default warmup below a short maxSteps, and a given one as given", () => {
    expect(withScaledDefaults({ training: { maxSteps: 5 } }, TrainingSettings.parse({ maxSteps: 5 }), data, TINY).warmupSteps).toBe(0);
    expect(withScaledDefaults({ training: { maxSteps: 40 } }, TrainingSettings.parse({ maxSteps: 40 }), data, TINY).warmupSteps).toBe(4);
    expect(withScaledDefaults({ training: { maxSteps: 40, warmupSteps: 7 } }, TrainingSettings.parse({ maxSteps: 40, warmupSteps: 7 }), data, TINY).warmupSteps).toBe(7);
    // Evaluations and checkpoints are spaced over the 40 steps, not over the epochs' run.
    expect(withScaledDefaults({ training: { maxSteps: 40 } }, TrainingSettings.parse({ maxSteps: 40 }), data, TINY)).toMatchObject({ evalEvery: 7, checkpointEvery: 8 });
  });

  it("leaves prompt noise off unless the caller names it, and keeps what they name", () => {
    expect(withScaledDefaults({}, TrainingSettings.parse({}), data, TINY).promptNoise).toBeUndefined();
    const on = { training: { promptNoise: { copies: 1, rate: 0.8, mode: "mix" } } };
    expect(withScaledDefaults(on, TrainingSettings.parse(on.training), data, TINY).promptNoise).toEqual({ copies: 1, rate: 0.8, mode: "mix" });
  });
});
