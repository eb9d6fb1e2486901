// The whole model's backward against finite differences (fp64), and the training forward
// against the serving forward with its KV cache.
import { describe, expect, it } from "vitest";
import { backward, createGrads, forwardTrain, paramList, toFloat64 } from "./train-graph.ts";
import { createKvCache, createRunState, forward } from "./model.ts";
import { createLora, TARGETS } from "./lora.ts";
import { tinyModel } from "./test-helpers.ts";
import { Rng } from "./rng.ts";

const tokens = [3, 7, 1, 18, 4, 4, 9];
const targets = [7, 1, 18, 4, -1, 9, 2];

describe("training graph", () => {
  it("LoRA gradients on all seven projections match finite differences", () => {
    const m32 = tinyModel(1);
    const a32 = createLora(m32.config, { r: 2, alpha: 4, dropout: 0, targets: [...TARGETS] }, { seed: 2, randomB: true });
    const { model, adapter } = toFloat64(m32, a32);
    const g = createGrads(model, adapter, false, Float64Array);
    const { tape } = forwardTrain(model, adapter, tokens, targets, null, Float64Array);
    backward(model, adapter, tape, targets, g, 1, Float64Array);
    const params = paramList(model, adapter, g);
    expect(params).toHaveLength(2 * 7 * 2);
    const eps = 1e-6;
    for (const { name, param, grad } of params)
      for (let i = 0; i < param.length; i += 3) {
        const old = param[i]!;
        param[i] = old + eps;
        const up = forwardTrain(model, adapter, tokens, targets, null, Float64Array).loss;
        param[i] = old - eps;
        const down = forwardTrain(model, adapter, tokens, targets, null, Float64Array).loss;
        param[i] = old;
        const num = (up - down) / (2 * eps);
        expect(Math.abs(num - grad[i]!), `${name}[${i}]`).toBeLessThan(1e-7 + 1e-5 * Math.abs(num));
      }
  });

  it("base-weight gradients (pretraining, tied embeddings) match finite differences", () => {
    const { model } = toFloat64(tinyModel(3, { tieEmbeddings: true }));
    const g = createGrads(model, null, true, Float64Array);
    const { tape } = forwardTrain(model, null, tokens, targets, null, Float64Array);
    backward(model, null, tape, targets, g, 1, Float64Array);
    const eps = 1e-6;
    for (const { name, param, grad } of paramList(model, null, g))
      for (let i = 0; i < param.length; i += 11) {
        const old = param[i]!;
        param[i] = old + eps;
        const up = forwardTrain(model, null, tokens, targets, null, Float64Array).loss;
        param[i] = old - eps;
        const down = forwardTrain(model, null, tokens, targets, null, Float64Array).loss;
        param[i] = old;
        const num = (up - down) / (2 * eps);
        expect(Math.abs(num - grad[i]!), `${name}[${i}]`).toBeLessThan(1e-7 + 1e-5 * Math.abs(num));
      }
  });

  it("dropout gradients are exact for the drawn mask", () => {
    const m32 = tinyModel(4);
    const a32 = createLora(m32.config, { r: 3, alpha: 3, dropout: 0.3, targets: ["q_proj", "down_proj"] }, { seed: 5, randomB: true });
    const { model, adapter } = toFloat64(m32, a32);
    const g = createGrads(model, adapter, false, Float64Array);
    const lossAt = () => forwardTrain(model, adapter, tokens, targets, new Rng(9), Float64Array);
    backward(model, adapter, lossAt().tape, targets, g, 1, Float64Array);
    const { param, grad } = paramList(model, adapter, g)[0]!;
    for (let i = 0; i < param.length; i += 5) {
      const old = param[i]!;
      param[i] = old + 1e-6;
      const up = lossAt().loss;
      param[i] = old - 1e-6;
      const down = lossAt().loss;
      param[i] = old;
      expect(Math.abs((up - down) / 2e-6 - grad[i]!)).toBeLessThan(1e-7);
    }
  });

  it("training forward equals token-by-token decoding with the KV cache", () => {
    const m = tinyModel(6, { nKvHeads: 1 });
    const a = createLora(m.config, { r: 2, alpha: 2, dropout: 0.1, targets: ["v_proj", "up_proj"] }, { seed: 7, randomB: true });
    const { tape } = forwardTrain(m, a, tokens, targets, null);
    const kv = createKvCache(m.config), s = createRunState(m.config, 1);
    const V = m.config.vocabSize;
    tokens.forEach((tok, pos) => {
      const logits = forward(m, [{ token: tok, pos, kv, adapter: a }], s);
      for (let j = 0; j < V; j++) expect(logits[j]).toBeCloseTo(tape.logits[pos * V + j]!, 4);
    });
  });
});
