import { describe, expect, it } from "vitest";
import { projectGradient } from "../../core/attribution/index.ts";
import { backward, createGrads, createLora, forwardTrain, paramList } from "../engine/index.ts";
import { tinyModel } from "../engine/test-helpers.ts";
import { packDocuments } from "../engine/index.ts";
import { crossEntropy } from "../engine/ops.ts";
import { callSequence, loraGradientSketch, marginGradient, recordSketch, sketchCall, sketchRecords } from "./gradient-sketch.ts";

const model = tinyModel(3);
const adapter = createLora(model.config, { r: 2, alpha: 4, dropout: 0.1, targets: ["q_proj", "v_proj", "down_proj"] }, { seed: 1, randomB: true });
const opts = { k: 64, seed: 11 };

describe("sequences", () => {
  it("a call's loss is on the completion only, keeping the last tokens that fit", () => {
    expect(callSequence([1, 2, 3], [7, 8], 32)).toEqual({ tokens: [1, 2, 3, 7], targets: [-1, -1, 7, 8] });
    expect(callSequence([1, 2, 3], [7, 8], 2)).toEqual({ tokens: [3, 7], targets: [7, 8] });
  });
});

describe("loraGradientSketch", () => {
  it("is the seeded projection of the LoRA gradient, in the engine's parameter order", () => {
    const tokens = [0, 3, 4, 5, 6], targets = [-1, -1, 5, 6, 0];
    const grads = createGrads(model, adapter, false);
    backward(model, adapter, forwardTrain(model, adapter, tokens, targets, null).tape, targets, grads);
    const expected = projectGradient(paramList(model, adapter, grads).map((p) => p.grad), 64, 11);
    expect(loraGradientSketch(model, adapter, tokens, targets, opts)).toEqual(expected);
  });

  it("sketches a record as training packs it alone: [BOS] tokens [EOS], loss where its mask says", () => {
    const record = { tokens: Int32Array.from([3, 4, 5, 6]), loss: Uint8Array.from([0, 0, 1, 1]) };
    const [row] = packDocuments([record], model.config.maxSeqLen, { bos: 1, eos: 0 });
    expect(Array.from(row!.tokens)).toEqual([1, 3, 4, 5, 6]);
    expect(Array.from(row!.targets)).toEqual([-1, -1, 5, 6, 0]);
    expect(recordSketch(model, adapter, record, { bos: 1, eos: 0 }, opts)).toEqual(loraGradientSketch(model, adapter, row!.tokens, row!.targets, opts));
  });

  it("sketches records in order; a call whose completion repeats a record lines up with it best", () => {
    const records = [[3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14], [15, 16, 17, 3, 9, 15]].map((t) => ({ tokens: Int32Array.from(t), loss: Uint8Array.from([0, 0, 0, 1, 1, 1]) }));
    const special = { bos: 1, eos: 0 };
    const set = sketchRecords(model, adapter, records, special, opts);
    expect(set.sketches.length).toBe(3 * 64);
    expect(set.sketches.subarray(64, 128)).toEqual(recordSketch(model, adapter, records[1]!, special, opts));
    const q = sketchCall(model, adapter, [1, 9, 10, 11], [12, 13, 14, 0], opts);
    // the call's sketch is its answer's margin gradient, not its loss's
    const seq = callSequence([1, 9, 10, 11], [12, 13, 14, 0], model.config.maxSeqLen);
    expect(q).toEqual(loraGradientSketch(model, adapter, seq.tokens, seq.targets, opts, "margin"));
    expect(q).not.toEqual(loraGradientSketch(model, adapter, seq.tokens, seq.targets, opts));
    const cos = [0, 1, 2].map((r) => {
      const s = set.sketches.subarray(r * 64, r * 64 + 64);
      let dot = 0, a = 0, b = 0;
      for (let i = 0; i < 64; i++) { dot += s[i]! * q[i]!; a += s[i]! ** 2; b += q[i]! ** 2; }
      return dot / Math.sqrt(a * b);
    });
    expect(cos.indexOf(Math.max(...cos))).toBe(1);
  });
});

describe("marginGradient", () => {
  it("is each target's cross-entropy gradient divided by 1 − p of the target (TRAK's margin), zero elsewhere", () => {
    const V = 7, T = 3, targets = [2, -1, 5];
    const logits = Float32Array.from({ length: T * V }, (_, i) => Math.sin(i * 1.7) * 4 + (i === 2 ? 12 : 0)); // row 0: p(2) ≈ 1
    const ce = new Float32Array(T * V);
    crossEntropy(ce, logits, targets, T, V);
    const m = marginGradient(logits, targets, V);
    for (const t of [0, 2]) {
      const row = Array.from(logits.subarray(t * V, t * V + V)), z = row.reduce((s, x) => s + Math.exp(x), 0), pY = Math.exp(row[targets[t]!]!) / z;
      for (let j = 0; j < V; j++) expect(m[t * V + j]!).toBeCloseTo(ce[t * V + j]! / (1 - pY), 3);
      expect(m.subarray(t * V, t * V + V).reduce((s, x) => s + x, 0)).toBeCloseTo(0, 5); // a softmax's gradient sums to 0
    }
    expect(Array.from(m.subarray(V, 2 * V))).toEqual(new Array(V).fill(0));
    // a memorised target keeps a gradient of order 1/count where the cross-entropy's has all but vanished
    expect(Math.abs(m[2]!)).toBeCloseTo(0.5, 3);
    expect(Math.abs(ce[2]!)).toBeLessThan(0.01);
  });
});
