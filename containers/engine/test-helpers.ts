// Factories shared by the engine's unit tests: tiny configs and seeded random models.
import { createModel, randomWeights, type Config, type Model } from "./model.ts";
import { Rng } from "./rng.ts";
import { createLora } from "./lora.ts";
import { packRecords } from "./packing.ts";
import type { TrainConfig } from "./train.ts";

/** A tiny GQA config (2 layers, 4 query heads over 2 KV heads) that tests run in milliseconds. */
export function tinyConfig(over: Partial<Config> = {}): Config {
  return { dim: 16, hiddenDim: 24, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 19, maxSeqLen: 32, ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: false, ...over };
}

/** A tiny model with seeded N(0, std) weights and perturbed norm weights. */
export function tinyModel(seed = 1, over: Partial<Config> = {}, std = 0.3): Model {
  const rng = new Rng(seed);
  const c = tinyConfig(over);
  const w = randomWeights(c, rng, std);
  for (const lw of w.layers) for (let i = 0; i < c.dim; i++) { lw.input_layernorm[i] = 1 + 0.3 * rng.normal(); lw.post_attention_layernorm[i] = 1 + 0.3 * rng.normal(); }
  for (let i = 0; i < c.dim; i++) w.norm[i] = 1 + 0.3 * rng.normal();
  return createModel(c, w, "tiny");
}

/** Seeded random array of n values in (−1, 1). */
export function randArr(n: number, seed: number, ctor: Float32ArrayConstructor | Float64ArrayConstructor = Float64Array): Float32Array | Float64Array {
  const rng = new Rng(seed);
  const a = new ctor(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

/** The run that the kill-and-resume test performs in a child process and in-process. */
export function resumeFixture() {
  const model = tinyModel(21, { maxSeqLen: 16 });
  const adapter = createLora(model.config, { r: 2, alpha: 4, dropout: 0.1, targets: ["q_proj", "v_proj", "down_proj"] }, { seed: 3 });
  const rng = new Rng(5);
  const records = Array.from({ length: 40 }, (_, i) => Array.from({ length: 3 + (i % 7) }, () => Math.floor(rng.next() * 18)));
  const data = { train: packRecords(records.slice(0, 32), 12, 18), eval: packRecords(records.slice(32), 12, 18) };
  const cfg: Partial<TrainConfig> = { steps: 20, batchSize: 2, gradAccum: 2, lr: 1e-2, warmupSteps: 3, evalEvery: 4, checkpointEvery: 5, seed: 9 };
  return { model, adapter, data, cfg };
}
