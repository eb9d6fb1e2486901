// The WASM SIMD kernels: the committed kernels.wasm is what kernels.wat builds to, and every
// kernel gives what its ops.ts reference gives (to fp32 summation order), on shapes with
// and without vector tails, with arguments in the heap and outside it.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as ref from "../ops.ts";
import { randArr } from "../test-helpers.ts";
import { buildKernels, WASM_PATH } from "./build.ts";
import { addLoraDelta, attendRow, kernelPath, matmul, matmulBackward, placeWeights, useKernels } from "./index.ts";
import { createKvCache, createRunState, forward } from "../model.ts";
import { tinyModel } from "../test-helpers.ts";
import * as lora from "../lora.ts";
import { tinyConfig } from "../test-helpers.ts";

const f32 = (n: number, seed: number) => randArr(n, seed, Float32Array) as Float32Array;
// |a − b| ≤ tol · (1 + |b|) everywhere; fp32 sums of n products in another order differ by ~n·2⁻²⁴
function expectClose(a: Float32Array, b: Float32Array, tol = 2e-5): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  expect(worst).toBeLessThan(tol);
}
const SHAPES: Array<[number, number, number]> = [[1, 96, 96], [1, 288, 32000 / 100], [3, 7, 5], [5, 64, 13], [8, 33, 4], [1, 1, 1], [17, 256, 96], [4, 8, 2]];

describe("WASM SIMD kernels", () => {
  it("kernels.wasm is up to date with kernels.wat (rebuild: node containers/engine/kernels/build.ts)", async () => {
    const built = await buildKernels();
    expect(Buffer.from(built).equals(readFileSync(WASM_PATH))).toBe(true);
  });

  it("run in this Node (WASM SIMD and shared memory)", () => {
    expect(kernelPath()).toBe(process.env.ENGINE_KERNELS === "ts" ? "ts" : "wasm-simd");
  });

  it("matmul equals ops.ts matmul, with weights outside and inside the heap", () => {
    for (const [k, [T, n, d]] of SHAPES.entries()) {
      const x = f32(T * n, k), w = f32(d * n, 100 + k);
      const want = new Float32Array(T * d), got = new Float32Array(T * d).fill(NaN);
      ref.matmul(want, x, w, T, n, d);
      matmul(got, x, w, T, n, d);
      expectClose(got, want);
      const placed = placeWeights({ embed_tokens: w, layers: [], norm: new Float32Array(1), lm_head: w }).embed_tokens;
      const got2 = new Float32Array(T * d + 3); // a longer output: only its first T·d values are written
      matmul(got2, x, placed, T, n, d);
      expectClose(got2.subarray(0, T * d), want);
      expect(Array.from(got2.subarray(T * d))).toEqual([0, 0, 0]);
    }
  });

  it("matmulBackward accumulates dx += dy·w and dw += dyᵀ·x as ops.ts does", () => {
    for (const [k, [T, n, d]] of SHAPES.entries()) {
      const dy = f32(T * d, k), x = f32(T * n, 50 + k), w = f32(d * n, 70 + k);
      const dx0 = f32(T * n, 90 + k), dw0 = f32(d * n, 110 + k); // non-zero: the kernels must add, not overwrite
      const wantDx = Float32Array.from(dx0), wantDw = Float32Array.from(dw0), gotDx = Float32Array.from(dx0), gotDw = Float32Array.from(dw0);
      ref.matmulBackward(wantDx, wantDw, dy, x, w, T, n, d);
      matmulBackward(gotDx, gotDw, dy, x, w, T, n, d);
      expectClose(gotDx, wantDx);
      expectClose(gotDw, wantDw);
      const onlyDx = Float32Array.from(dx0);
      matmulBackward(onlyDx, null, dy, x, w, T, n, d);
      expectClose(onlyDx, wantDx);
    }
  });

  it("the per-row LoRA delta (BGMV) equals lora.ts over a batch of mixed adapters, shared ones and rows without", () => {
    const cfg = tinyConfig({ dim: 24, hiddenDim: 37 });
    const a1 = lora.createLora(cfg, { r: 3, alpha: 6, dropout: 0, targets: ["q_proj", "down_proj"] }, { seed: 1, randomB: true });
    const a2 = lora.createLora(cfg, { r: 8, alpha: 4, dropout: 0, targets: ["down_proj"] }, { seed: 2, randomB: true });
    const rows = [a1, null, a2, a1, a2, null, a1];
    for (const [t, n, d] of [["q_proj", 24, 24], ["down_proj", 37, 24]] as const) {
      const x = f32(rows.length * n, 5), base = f32(rows.length * d, 6);
      const want = Float32Array.from(base), got = Float32Array.from(base);
      lora.addLoraDelta(want, x, rows, 1, t, n, d, new Float32Array(8));
      addLoraDelta(got, x, rows, 1, t, n, d, new Float32Array(8));
      expectClose(got, want);
      expect(got.subarray(d, 2 * d)).toEqual(base.subarray(d, 2 * d)); // a row without an adapter is left alone
    }
  });

  it("the whole batched decode step (attention over the KV cache, LoRA deltas) equals the TS path", () => {
    const m = tinyModel(3, { dim: 32, nHeads: 4, nKvHeads: 2, maxSeqLen: 24 }); // head size 8
    const ad = lora.createLora(m.config, { r: 2, alpha: 4, dropout: 0, targets: ["q_proj", "v_proj", "down_proj"] }, { seed: 9, randomB: true });
    const run = (kernels: boolean) => {
      useKernels(kernels);
      try {
        const kvs = [createKvCache(m.config), createKvCache(m.config)], s = createRunState(m.config, 2), all: number[] = [];
        for (let pos = 0; pos < 20; pos++) {
          // row 1 starts three steps later: rows attend over different lengths
          const rows = [{ token: (pos * 7) % 19, pos, kv: kvs[0]!, adapter: ad }, ...(pos >= 3 ? [{ token: (pos * 5) % 19, pos: pos - 3, kv: kvs[1]!, adapter: null }] : [])];
          all.push(...forward(m, rows, s));
        }
        return Float32Array.from(all);
      } finally {
        useKernels(true);
      }
    };
    expectClose(run(true), run(false), 5e-5);
  });

  it("the attention kernel declines a head size it cannot take, and the caller keeps its loop", () => {
    const out = new Float32Array(6), q = f32(6, 1), k = f32(6, 2), v = f32(6, 3);
    expect(attendRow(out, 0, q, 0, k, v, 0, 0, 1, 1, 6)).toBe(false);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("fp64 arrays take the reference path exactly", () => {
    const x = randArr(5 * 7, 1), w = randArr(3 * 7, 2);
    const want = new Float64Array(15), got = new Float64Array(15);
    ref.matmul(want, x, w, 5, 7, 3);
    matmul(got, x, w, 5, 7, 3);
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});
