// Packing for fine-tuning: documents in one row must not see each other, and only trained
// tokens take loss. The leak test compares a packed row with each record run on its own.
import { describe, expect, it } from "vitest";
import { packDocuments, packRecords } from "./packing.ts";
import { backward, createGrads, forwardTrain, paramList, toFloat64 } from "./train-graph.ts";
import { createLora, TARGETS } from "./lora.ts";
import { tinyModel } from "./test-helpers.ts";

const special = { bos: 17, eos: 18 };
const rec = (tokens: number[], loss?: number[]) => ({ tokens: Int32Array.from(tokens), ...(loss ? { loss: Uint8Array.from(loss) } : {}) });

describe("packDocuments", () => {
  it("frames each record as BOS…EOS, packs whole records into a row and marks where each starts", () => {
    const rows = packDocuments([rec([1, 2]), rec([3]), rec([4, 5, 6])], 6, special);
    // [17 1 2 18] fills 3 positions, [17 3 18] 2 more; [17 4 5 6 18] needs 4: a new row
    expect(rows.map((r) => Array.from(r.tokens))).toEqual([[17, 1, 2, 17, 3], [17, 4, 5, 6]]);
    expect(rows.map((r) => Array.from(r.targets))).toEqual([[1, 2, 18, 3, 18], [4, 5, 6, 18]]);
    expect(rows.map((r) => Array.from(r.starts!))).toEqual([[0, 0, 0, 3, 3], [0, 0, 0, 0]]);
  });

  it("takes no loss on prompt tokens, trains EOS with the completion, and drops rows with nothing to learn", () => {
    // prompt 1 2 3, completion 4 5
    const [row] = packDocuments([rec([1, 2, 3, 4, 5], [0, 0, 0, 1, 1])], 16, special);
    expect(Array.from(row!.tokens)).toEqual([17, 1, 2, 3, 4, 5]);
    expect(Array.from(row!.targets)).toEqual([-1, -1, -1, 4, 5, 18]);
    expect(packDocuments([rec([1, 2, 3], [0, 0, 0])], 16, special)).toEqual([]);
  });

  it("cuts a record longer than a row into row-sized documents", () => {
    const rows = packDocuments([rec([1, 2, 3, 4, 5, 6, 7]), rec([8])], 4, special);
    expect(rows.map((r) => Array.from(r.tokens))).toEqual([[17, 1, 2, 3], [4, 5, 6, 7], [17, 8]]);
    expect(rows.map((r) => Array.from(r.targets))).toEqual([[1, 2, 3, 4], [5, 6, 7, 18], [8, 18]]);
    expect(rows.every((r) => r.starts!.every((s) => s === 0))).toBe(true);
    expect(() => packDocuments([rec([1, 2], [1])], 4, special)).toThrow(RangeError);
  });

  it("packRecords (pretraining) still joins records into one stream", () => {
    expect(packRecords([[1, 2], [3]], 4, 9).map((s) => s.starts)).toEqual([undefined]);
  });
});

describe("block-diagonal attention", () => {
  const m = tinyModel(7);
  const a = createLora(m.config, { r: 2, alpha: 4, dropout: 0, targets: [...TARGETS] }, { seed: 4, randomB: true });
  const A = rec([3, 7, 1, 9, 4]), B = rec([5, 5, 2, 11, 6, 8]);
  const [row] = packDocuments([A, B], 32, special);
  const [alone] = packDocuments([B], 32, special);
  const offset = A.tokens.length + 1; // B starts after BOS + A's tokens

  it("gives a packed record the logits it has alone (a leaking mask would mix in its neighbour)", () => {
    const V = m.config.vocabSize;
    const packed = forwardTrain(m, a, row!.tokens, row!.targets, null, Float32Array, row!.starts).tape.logits;
    const single = forwardTrain(m, a, alone!.tokens, alone!.targets, null).tape.logits;
    for (let t = 0; t < alone!.tokens.length; t++)
      for (let j = 0; j < V; j++) expect(packed[(offset + t) * V + j]).toBeCloseTo(single[t * V + j]!, 5);
    // without the mask the same row does see A: the check above can fail
    const leaky = forwardTrain(m, a, row!.tokens, row!.targets, null).tape.logits;
    expect(Math.abs(leaky[offset * V]! - single[0]!)).toBeGreaterThan(1e-3);
  });

  it("backward: the packed row's LoRA gradient is the token-weighted mean of the records' own", () => {
    const { model, adapter } = toFloat64(m, a);
    const grad = (tokens: Int32Array, targets: Int32Array, starts: Int32Array | null) => {
      const g = createGrads(model, adapter, false, Float64Array);
      const { tape, count } = forwardTrain(model, adapter, tokens, targets, null, Float64Array, starts);
      backward(model, adapter, tape, targets, g, 1, Float64Array);
      return { grads: paramList(model, adapter, g).map((p) => p.grad), count };
    };
    const [onlyA] = packDocuments([A], 32, special);
    const p = grad(row!.tokens, row!.targets, row!.starts!), ga = grad(onlyA!.tokens, onlyA!.targets, null), gb = grad(alone!.tokens, alone!.targets, null);
    expect(p.count).toBe(ga.count + gb.count);
    p.grads.forEach((g, k) => g.forEach((v, i) => expect(v).toBeCloseTo((ga.count * ga.grads[k]![i]! + gb.count * gb.grads[k]![i]!) / p.count, 10)));
  });
});
