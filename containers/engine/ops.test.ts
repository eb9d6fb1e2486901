// Finite-difference checks of every op's backward, in fp64 with central differences.
import { describe, expect, it } from "vitest";
import { attention, attentionBackward, probsLength, crossEntropy, matmul, matmulBackward, rmsnorm, rmsnormBackward, rope, ropeTables, swiglu, swigluBackward, type Arr } from "./ops.ts";
import { randArr } from "./test-helpers.ts";

const EPS = 1e-6;

/** Check analytic grad of L = Σ out⊙R (R random) wrt `inp` against central differences. */
function check(inp: Arr, analytic: Arr, lossOf: () => number): void {
  for (let i = 0; i < inp.length; i++) {
    const old = inp[i]!;
    inp[i] = old + EPS;
    const up = lossOf();
    inp[i] = old - EPS;
    const down = lossOf();
    inp[i] = old;
    const num = (up - down) / (2 * EPS);
    expect(Math.abs(num - analytic[i]!)).toBeLessThan(1e-6 * Math.max(1, Math.abs(num)));
  }
}
const dot = (a: Arr, b: Arr) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };

describe("op gradients (finite differences, fp64)", () => {
  it.each([[3, 5, 4], [6, 3, 7]])("matmul: dx and dw (T=%i, n=%i, d=%i)", (T, n, d) => {
    const x = randArr(T * n, 1), w = randArr(d * n, 2), R = randArr(T * d, 3);
    const out = new Float64Array(T * d);
    const L = () => (matmul(out, x, w, T, n, d), dot(out, R));
    const dx = new Float64Array(T * n), dw = new Float64Array(d * n);
    matmulBackward(dx, dw, R, x, w, T, n, d);
    check(x, dx, L);
    check(w, dw, L);
  });

  it("matmul matches a naive triple loop for odd sizes", () => {
    const T = 2, n = 7, d = 3;
    const x = randArr(T * n, 4), w = randArr(d * n, 5), out = new Float64Array(T * d);
    matmul(out, x, w, T, n, d);
    for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += x[t * n + j]! * w[i * n + j]!;
      expect(out[t * d + i]).toBeCloseTo(s, 12);
    }
  });

  it("rmsnorm: dx and dw", () => {
    const T = 3, n = 6;
    const x = randArr(T * n, 6), w = randArr(n, 7), R = randArr(T * n, 8), out = new Float64Array(T * n);
    const L = () => (rmsnorm(out, x, w, T, n, 1e-5), dot(out, R));
    const dx = new Float64Array(T * n), dw = new Float64Array(n);
    rmsnormBackward(dx, dw, R, x, w, T, n, 1e-5);
    check(x, dx, L);
    check(w, dw, L);
  });

  it("rope: backward is the inverse rotation", () => {
    const T = 4, nH = 2, hd = 6, tab = ropeTables(8, hd, 10000), pos = [0, 3, 5, 7];
    const x = randArr(T * nH * hd, 9), R = randArr(T * nH * hd, 10);
    const L = () => { const y = new Float64Array(x); rope(y, T, nH, hd, pos, tab); return dot(y, R); };
    const dx = new Float64Array(R);
    rope(dx, T, nH, hd, pos, tab, -1);
    check(x, dx, L);
  });

  it("causal GQA attention: dq, dk, dv", () => {
    const T = 4, nH = 4, nKv = 2, hd = 3;
    const q = randArr(T * nH * hd, 11), k = randArr(T * nKv * hd, 12), v = randArr(T * nKv * hd, 13), R = randArr(T * nH * hd, 14);
    const out = new Float64Array(T * nH * hd), probs = new Float64Array(probsLength(T, nH));
    const L = () => (attention(out, probs, q, k, v, T, nH, nKv, hd), dot(out, R));
    L();
    const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
    attentionBackward(dq, dk, dv, R, probs, q, k, v, T, nH, nKv, hd);
    check(q, dq, L);
    check(k, dk, L);
    check(v, dv, L);
  });

  it("attention is causal: the first row attends only to itself", () => {
    const T = 3, nH = 1, hd = 2;
    const q = randArr(T * hd, 15), k = randArr(T * hd, 16), v = randArr(T * hd, 17);
    const out = new Float64Array(T * hd), probs = new Float64Array(probsLength(T, nH));
    attention(out, probs, q, k, v, T, nH, nH, hd);
    expect([out[0], out[1]]).toEqual([v[0], v[1]]);
  });

  it("swiglu: dgate and dup", () => {
    const n = 7, g = randArr(n, 18), u = randArr(n, 19), R = randArr(n, 20), out = new Float64Array(n);
    const L = () => (swiglu(out, g, u, n), dot(out, R));
    const dg = new Float64Array(n), du = new Float64Array(n);
    swigluBackward(dg, du, R, g, u, n);
    check(g, dg, L);
    check(u, du, L);
  });

  it("cross-entropy: dlogits, with ignored targets", () => {
    const T = 3, V = 5, logits = randArr(T * V, 21), targets = [2, -1, 4];
    const L = () => { const r = crossEntropy(null, logits, targets, T, V); return r.sum / r.count; };
    const d = new Float64Array(T * V);
    crossEntropy(d, logits, targets, T, V);
    check(logits, d, L);
    expect(Array.from(d.subarray(V, 2 * V))).toEqual([0, 0, 0, 0, 0]);
  });
});
