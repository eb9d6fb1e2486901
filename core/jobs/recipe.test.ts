import { describe, expect, it } from "vitest";
import { TrainingSettings } from "./model.ts";
import { MAX_STEPS, MEMORISE_EPOCHS, MIN_STEPS, packedSequences, scaledTrainingDefaults, splitCounts, withScaledDefaults } from "./recipe.ts";

/** Optimizer steps the scaled settings give on the (estimated) packed data. */
function stepsOf(data: { records: number; tokens: number }, evalFraction = 0.1, seqLen = 128) {
  const d = scaledTrainingDefaults(data, evalFraction, seqLen);
  const { trainRecords } = splitCounts(data.records, evalFraction);
  const sequences = packedSequences((data.tokens * trainRecords) / data.records, trainRecords, seqLen);
  return { d, sequences, steps: Math.ceil((d.epochs * sequences) / d.batchSize) };
}

describe("scaledTrainingDefaults", () => {
  it("gives a small Datanet enough passes for MIN_STEPS steps, with a batch it fills", () => {
    // 40 capitals of ~15 tokens: 6 sequences of 128, batch 4.
    const { d, sequences, steps } = stepsOf({ records: 40, tokens: 600 });
    expect(d.batchSize).toBeLessThanOrEqual(sequences);
    expect(steps).toBeGreaterThanOrEqual(MIN_STEPS);
    expect(d.epochs).toBeGreaterThanOrEqual(MEMORISE_EPOCHS);
    expect(d.warmupSteps).toBeLessThan(steps);
  });

  it("gives a few hundred records MEMORISE_EPOCHS passes", () => {
    const { d, steps } = stepsOf({ records: 300, tokens: 6_000 });
    expect(d).toMatchObject({ epochs: MEMORISE_EPOCHS, batchSize: 8, warmupSteps: 10 });
    expect(d.evalEvery).toBe(Math.round(steps / 6));
  });

  it("keeps a large Datanet's run near MAX_STEPS", () => {
    const { d, steps } = stepsOf({ records: 50_000, tokens: 5_000_000 }, 0.1, 256);
    expect(d.epochs).toBeLessThan(1);
    expect(steps).toBeLessThanOrEqual(MAX_STEPS * 1.01);
    expect(steps).toBeGreaterThan(MAX_STEPS * 0.8); // epochs are cut to tenths
  });
});

describe("withScaledDefaults", () => {
  const data = { records: 300, tokens: 6_000 };

  it("scales what the caller left out and keeps what they gave", () => {
    const raw = { training: { epochs: 2, learningRate: 1e-3 } };
    const out = withScaledDefaults(raw, TrainingSettings.parse(raw.training), data, 128);
    const scaled = scaledTrainingDefaults(data, 0.1, 128);
    expect(out).toMatchObject({ epochs: 2, learningRate: 1e-3, batchSize: scaled.batchSize, evalEvery: scaled.evalEvery, checkpointEvery: scaled.checkpointEvery });
    expect(withScaledDefaults({}, TrainingSettings.parse({}), data, 128)).toMatchObject(scaled);
  });

  it("keeps a default warmup below a short maxSteps, and a given one as given", () => {
    expect(withScaledDefaults({ training: { maxSteps: 5 } }, TrainingSettings.parse({ maxSteps: 5 }), data, 128).warmupSteps).toBe(0);
    expect(withScaledDefaults({ training: { maxSteps: 40 } }, TrainingSettings.parse({ maxSteps: 40 }), data, 128).warmupSteps).toBe(4);
    expect(withScaledDefaults({ training: { maxSteps: 40, warmupSteps: 7 } }, TrainingSettings.parse({ maxSteps: 40, warmupSteps: 7 }), data, 128).warmupSteps).toBe(7);
    // Evaluations and checkpoints are spaced over the 40 steps, not over the epochs' run.
    expect(withScaledDefaults({ training: { maxSteps: 40 } }, TrainingSettings.parse({ maxSteps: 40 }), data, 128)).toMatchObject({ evalEvery: 7, checkpointEvery: 8 });
  });

  it("leaves prompt noise off unless the caller names it, and keeps what they name", () => {
    expect(withScaledDefaults({}, TrainingSettings.parse({}), data, 128).promptNoise).toBeUndefined();
    const on = { training: { promptNoise: { copies: 1, rate: 0.8, mode: "mix" } } };
    expect(withScaledDefaults(on, TrainingSettings.parse(on.training), data, 128).promptNoise).toEqual({ copies: 1, rate: 0.8, mode: "mix" });
  });
});
