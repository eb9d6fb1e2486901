// The WASM SIMD kernels: the committed kernels.wasm is what kernels.wat builds to, and every
// kernel gives what its ops.ts reference gives (to fp32 summation order), on shapes with
// and without vector tails, with arguments in the heap and outside it.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as ref from "../ops.ts";
import { randArr } from "../test-helpers.ts";
import { buildKernels, WASM_PATH } from "./build.ts";
import {
  addLoraDelta, addScaled, attendRow, attention, heapFloats, attentionBackward, crossEntropy, kernelPath, matmul, matmulBackward, placeWeights, rmsnorm, rmsnormBackward, swiglu, swigluBackward, useKernels, withStepArena,
} from "./index.ts";
import { backward, createGrads, forwardTrain, paramList } from "../train-graph.ts";
import { createKvCache, createRunState, forward } from "../model.ts";
import { tinyModel } from "../test-helpers.ts";
import * as lora from "../lora.ts";
import { tinyConfig } from "../test-helpers.ts";
import { Rng } from "../rng.ts";

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

  it("training attention and its backward equal ops.ts: GQA, tails, one and several documents", () => {
    // [T, nH, nKv, hd]: hd 4, 8, 12; T with and without a tail of 4; T = 1
    for (const [k, [T, nH, nKv, hd]] of ([[1, 2, 1, 8], [5, 4, 2, 4], [13, 8, 4, 8], [37, 3, 3, 12], [64, 2, 1, 8]] as const).entries())
      for (const starts of [null, Int32Array.from({ length: T }, (_, t) => (t < 3 ? 0 : t < 9 ? 3 : 9))]) {
        const qDim = nH * hd, kvDim = nKv * hd;
        const q = f32(T * qDim, k), kk = f32(T * kvDim, 10 + k), v = f32(T * kvDim, 20 + k), dout = f32(T * qDim, 30 + k);
        const want = { out: new Float32Array(T * qDim), probs: new Float32Array(ref.probsLength(T, nH)) };
        const got = { out: new Float32Array(T * qDim).fill(NaN), probs: new Float32Array(ref.probsLength(T, nH)).fill(NaN) };
        ref.attention(want.out, want.probs, q, kk, v, T, nH, nKv, hd, starts);
        attention(got.out, got.probs, q, kk, v, T, nH, nKv, hd, starts);
        expectClose(got.out, want.out);
        // the probabilities where the backward reads them: row t's own document's positions s0..t
        const Tp = (T + 3) & ~3, inMask = (a: Float32Array) => Float32Array.from({ length: nH * T * T }, (_, e) => {
          const h = Math.floor(e / (T * T)), t = Math.floor(e / T) % T, s = e % T;
          return s >= (starts ? starts[t]! : 0) && s <= t ? a[(h * Tp + t) * Tp + s]! : 0;
        });
        expectClose(inMask(got.probs), inMask(want.probs));
        // the backward adds into non-zero gradients
        const g0 = [f32(T * qDim, 40 + k), f32(T * kvDim, 50 + k), f32(T * kvDim, 60 + k)];
        const wantG = g0.map((a) => Float32Array.from(a)), gotG = g0.map((a) => Float32Array.from(a));
        ref.attentionBackward(wantG[0]!, wantG[1]!, wantG[2]!, dout, want.probs, q, kk, v, T, nH, nKv, hd, starts);
        attentionBackward(gotG[0]!, gotG[1]!, gotG[2]!, dout, want.probs, q, kk, v, T, nH, nKv, hd, starts);
        // and the kernels' backward of their own forward (its probs, NaN where the forward left them)
        const ownG = g0.map((a) => Float32Array.from(a));
        attentionBackward(ownG[0]!, ownG[1]!, ownG[2]!, dout, got.probs, q, kk, v, T, nH, nKv, hd, starts);
        for (let i = 0; i < 3; i++) expectClose(ownG[i]!, wantG[i]!, 5e-5);
        for (let i = 0; i < 3; i++) expectClose(gotG[i]!, wantG[i]!, 5e-5);
      }
  });

  it("training attention with a head size that is not a multiple of 4 runs the reference exactly", () => {
    const T = 6, nH = 2, hd = 6, q = f32(T * nH * hd, 1), k = f32(T * hd, 2), v = f32(T * hd, 3);
    const want = new Float32Array(T * nH * hd), got = new Float32Array(T * nH * hd), pw = new Float32Array(ref.probsLength(T, nH)), pg = new Float32Array(ref.probsLength(T, nH));
    ref.attention(want, pw, q, k, v, T, nH, 1, hd);
    attention(got, pg, q, k, v, T, nH, 1, hd);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it("RMSNorm and its backward equal ops.ts (with and without dw, in place)", () => {
    for (const [k, [T, n]] of ([[1, 1], [3, 7], [8, 64], [5, 96], [2, 173]] as const).entries()) {
      const x = f32(T * n, k), w = f32(n, 10 + k), dy = f32(T * n, 20 + k);
      const want = new Float32Array(T * n), got = new Float32Array(T * n);
      ref.rmsnorm(want, x, w, T, n, 1e-5);
      rmsnorm(got, x, w, T, n, 1e-5);
      expectClose(got, want);
      const inPlace = Float32Array.from(x);
      rmsnorm(inPlace, inPlace, w, T, n, 1e-5);
      expectClose(inPlace, want);
      const dx0 = f32(T * n, 30 + k), dw0 = f32(n, 40 + k);
      const wantDx = Float32Array.from(dx0), wantDw = Float32Array.from(dw0), gotDx = Float32Array.from(dx0), gotDw = Float32Array.from(dw0);
      ref.rmsnormBackward(wantDx, wantDw, dy, x, w, T, n, 1e-5);
      rmsnormBackward(gotDx, gotDw, dy, x, w, T, n, 1e-5);
      expectClose(gotDx, wantDx);
      expectClose(gotDw, wantDw);
      const onlyDx = Float32Array.from(dx0);
      rmsnormBackward(onlyDx, null, dy, x, w, T, n, 1e-5);
      expectClose(onlyDx, wantDx);
    }
  });

  it("SwiGLU and its backward equal ops.ts, large gates of both signs included", () => {
    for (const n of [1, 3, 8, 172 * 3 + 1]) {
      const gate = f32(n, n).map((g, i) => (i % 5 === 0 ? g * 40 : g * 3)), up = f32(n, n + 1), dout = f32(n, n + 2);
      const want = new Float32Array(n), got = new Float32Array(n);
      ref.swiglu(want, gate, up, n);
      swiglu(got, gate, up, n);
      expectClose(got, want);
      const a0 = f32(n, n + 3), b0 = f32(n, n + 4);
      const wantA = Float32Array.from(a0), wantB = Float32Array.from(b0), gotA = Float32Array.from(a0), gotB = Float32Array.from(b0);
      ref.swigluBackward(wantA, wantB, dout, gate, up, n);
      swigluBackward(gotA, gotB, dout, gate, up, n);
      expectClose(gotA, wantA);
      expectClose(gotB, wantB);
    }
  });

  it("addScaled equals ops.ts, with and without a vector tail", () => {
    for (const n of [1, 4, 7, 255 * 64]) {
      const x = f32(n, n), y0 = f32(n, n + 1), want = Float32Array.from(y0), got = Float32Array.from(y0);
      ref.addScaled(want, x, 0.37, n);
      addScaled(got, x, 0.37, n);
      expectClose(got, want);
    }
  });

  it("cross-entropy and its gradient equal ops.ts, with ignored targets; a target outside the vocabulary is refused", () => {
    for (const [T, V] of [[1, 1], [4, 7], [9, 512], [3, 33]] as const) {
      const logits = f32(T * V, V).map((l) => l * 8), targets = Array.from({ length: T }, (_, t) => (t % 3 === 1 ? -1 : (t * 5) % V));
      const want = new Float32Array(T * V), got = new Float32Array(T * V).fill(NaN);
      const r = ref.crossEntropy(want, logits, targets, T, V, 0.5), k = crossEntropy(got, logits, targets, T, V, 0.5);
      expect(k.count).toBe(r.count);
      expect(Math.abs(k.sum - r.sum)).toBeLessThan(1e-5 * (1 + Math.abs(r.sum)));
      expectClose(got, want);
      expect(crossEntropy(null, logits, targets, T, V).sum).toBeCloseTo(r.sum, 4);
    }
    expect(() => crossEntropy(null, f32(4, 1), [4], 1, 4)).toThrow(/outside the vocabulary/);
  });

  it("a whole training step (forward, loss, every gradient) through the kernels equals the TS path", () => {
    const m = tinyModel(4, { dim: 32, nHeads: 4, nKvHeads: 2, hiddenDim: 45, maxSeqLen: 24 });
    const ad = lora.createLora(m.config, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj", "down_proj"] }, { seed: 5, randomB: true });
    const tokens = Array.from({ length: 21 }, (_, i) => (i * 7) % 19), targets = tokens.map((_, i) => (i % 4 === 0 ? -1 : (i * 3) % 19));
    const starts = Int32Array.from(tokens, (_, t) => (t < 8 ? 0 : 8));
    const run = (kernels: boolean) => {
      useKernels(kernels);
      try {
        const g = createGrads(m, ad, false);
        const { loss, tape } = forwardTrain(m, ad, tokens, targets, null, Float32Array, starts);
        backward(m, ad, tape, targets, g, 1);
        return { loss, grads: paramList(m, ad, g).map((p) => p.grad as Float32Array) };
      } finally {
        useKernels(true);
      }
    };
    const k = run(true), t = run(false);
    expect(Math.abs(k.loss - t.loss)).toBeLessThan(1e-5);
    k.grads.forEach((g, i) => expectClose(g, t.grads[i]!, 1e-4));
  });

  it("the step arena hands out zeroed heap arrays, hands them out again after the step, and is not re-entrant", () => {
    const first = withStepArena((a) => {
      expect(a).not.toBeNull();
      const x = a!.floats(37).fill(7), y = a!.floats(5, false);
      expect(x.buffer).toBeInstanceOf(SharedArrayBuffer); // the kernel heap (shared memory): kernels read it in place
      expect(y.byteOffset).toBeGreaterThanOrEqual(x.byteOffset + 40 * 4); // 16-byte aligned, no overlap
      expect(withStepArena((inner) => inner)).toBeNull(); // nested: ordinary arrays, never the live arena
      return { at: x.byteOffset, cap: a!.capacity };
    });
    withStepArena((a) => {
      const x = a!.floats(37);
      expect(x.byteOffset).toBe(first.at); // the same floats again, zeroed
      expect(Array.from(x)).toEqual(new Array(37).fill(0));
      expect(a!.capacity).toBe(first.cap); // no new chunk for the same step
    });
    useKernels(false);
    try {
      expect(withStepArena((a) => a)).toBeNull(); // the reference path allocates ordinary arrays
    } finally {
      useKernels(true);
    }
  });

  it("a training step on the step arena (activations in the heap, the loss's gradient taken in the forward) gives the step without it", () => {
    const m = tinyModel(8, { dim: 32, nHeads: 4, nKvHeads: 2, hiddenDim: 45, maxSeqLen: 40 });
    const ad = lora.createLora(m.config, { r: 4, alpha: 8, dropout: 0.2, targets: ["q_proj", "v_proj", "down_proj"] }, { seed: 9, randomB: true });
    const tokens = Array.from({ length: 37 }, (_, i) => (i * 5) % 19), targets = tokens.map((_, i) => (i % 5 === 0 ? -1 : (i * 3) % 19));
    const starts = Int32Array.from(tokens, (_, t) => (t < 20 ? 0 : 20));
    const step = (onArena: boolean) => {
      const g = createGrads(m, ad, false);
      const run = (arena: Parameters<Parameters<typeof withStepArena>[0]>[0]) => {
        const { loss, tape } = forwardTrain(m, ad, tokens, targets, new Rng(3), Float32Array, starts, arena);
        backward(m, ad, tape, targets, g, 0.5);
        return loss;
      };
      const loss = onArena ? withStepArena(run) : run(null);
      return { loss, grads: paramList(m, ad, g).map((p) => p.grad as Float32Array) };
    };
    const a = step(true), b = step(false);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
    a.grads.forEach((g, i) => expectClose(g, b.grads[i]!, 1e-5));
  });

  it("long-lived heap arrays (KV caches) start at zero and never share a block with a live one", () => {
    const a = heapFloats(37).fill(5), b = heapFloats(37);
    expect(Array.from(b)).toEqual(new Array(37).fill(0));
    expect(Array.from(a)).toEqual(new Array(37).fill(5));
    expect(b.byteOffset === a.byteOffset && b.buffer === a.buffer).toBe(false);
    expect(heapFloats(0)).toHaveLength(0);
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
