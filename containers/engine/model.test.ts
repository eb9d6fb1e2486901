// The serving forward: config checks, bad rows, and grouped-query attention semantics.
import { describe, expect, it } from "vitest";
import { createKvCache, createModel, createRunState, forward, ModelError, randomWeights, validateConfig } from "./model.ts";
import { Rng } from "./rng.ts";
import { tinyConfig, tinyModel } from "./test-helpers.ts";
import { createLora, LoraError } from "./lora.ts";
import { AdapterSlots } from "./kernels/adapter-slots.ts";

describe("model", () => {
  it("rejects configs it cannot build", () => {
    expect(() => validateConfig(tinyConfig({ nKvHeads: 3 }))).toThrow(/multiple of nKvHeads/);
    expect(() => validateConfig(tinyConfig({ dim: 18 }))).toThrow(/divisible/);
    expect(() => validateConfig(tinyConfig({ nLayers: 0 }))).toThrow(ModelError);
    const w = randomWeights(tinyConfig(), new Rng(1));
    w.layers[1]!.up_proj = new Float32Array(3);
    expect(() => createModel(tinyConfig(), w)).toThrow(/layer 1 up_proj/);
  });

  it("rejects bad rows", () => {
    const m = tinyModel(1), kv = createKvCache(m.config), s = createRunState(m.config, 2);
    expect(() => forward(m, [{ token: 99, pos: 0, kv, adapter: null }], s)).toThrow(/vocabulary/);
    expect(() => forward(m, [{ token: 1, pos: 32, kv, adapter: null }], s)).toThrow(/context/);
    expect(() => forward(m, [0, 1, 2].map((pos) => ({ token: 1, pos, kv, adapter: null })), s)).toThrow(/maxBatch/);
  });

  it("rejects an adapter made for another shape (the kernels would read past its matrices), resident or not", () => {
    const m = tinyModel(1), kv = createKvCache(m.config), s = createRunState(m.config, 8);
    const slots = new AdapterSlots({ capBytes: 1 << 20 });
    for (const over of [{ dim: 24 }, { hiddenDim: 40 }, { nLayers: 3 }]) {
      const a = createLora(tinyConfig(over), { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "down_proj"] }, { id: "other", seed: 1, randomB: true });
      const rows = (n: number) => Array.from({ length: n }, (_, pos) => ({ token: 1, pos, kv, adapter: a }));
      expect(() => forward(m, rows(1), s)).toThrow(LoraError);
      slots.place(a);
      expect(() => forward(m, rows(8), s)).toThrow(/adapter other/); // a planned step's rows
      slots.release(a);
    }
  });

  it("GQA equals multi-head attention with each KV head repeated for its query group", () => {
    const g = tinyModel(2, { nKvHeads: 2 });
    const c = g.config, hd = c.dim / c.nHeads;
    const rep = (w: Float32Array) => { // (2·hd, dim) → (4·hd, dim): kv head h serves query heads 2h, 2h+1
      const out = new Float32Array(4 * hd * c.dim);
      for (let h = 0; h < 4; h++) out.set(w.subarray(Math.floor(h / 2) * hd * c.dim, (Math.floor(h / 2) + 1) * hd * c.dim), h * hd * c.dim);
      return out;
    };
    const mha = createModel({ ...c, nKvHeads: 4 }, { ...g.weights, layers: g.weights.layers.map((lw) => ({ ...lw, k_proj: rep(lw.k_proj), v_proj: rep(lw.v_proj) })) });
    const run = (m: typeof g) => { const kv = createKvCache(m.config), s = createRunState(m.config, 1); let out = new Float32Array(0); [3, 1, 4, 1, 5].forEach((token, pos) => (out = Float32Array.from(forward(m, [{ token, pos, kv, adapter: null }], s)))); return out; };
    const a = run(g), b = run(mha);
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 5));
  });
});
