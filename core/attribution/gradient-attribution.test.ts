import { describe, expect, it } from "vitest";
import { scoreSketches, type SketchSet } from "./gradient-attribution.ts";
import { projectGradient } from "./projection.ts";

// Records' gradients that all share one large direction (what every record of a template
// trains) plus a small one of their own, as the planted facts' are.
const K = 256, N = 12, DIM = 40;
const gradient = (own: number, shared = 5, ownWeight = 1) => { const g = new Float32Array(DIM); g[0] = shared; g[1 + own] = ownWeight; return g; };
const set: SketchSet = { k: K, seed: 7, sketches: new Float32Array(N * K) };
for (let r = 0; r < N; r++) set.sketches.set(projectGradient([gradient(r)], K, 7), r * K);

describe("scoreSketches", () => {
  it("scores about the records' mean: the shared direction does not decide, the record's own does", () => {
    // Prepare: a call whose gradient is the shared direction plus a little of record 4's own.
    const query = projectGradient([gradient(4, 5, 0.5)], K, 7);
    // Act
    const plain = scoreSketches(set, query, { centre: false, minCosine: 0.2 });
    const about = scoreSketches(set, query, { centre: true, minCosine: 0.2 });
    // Assess: plain cosines are all near 1 (every record "counts"); about the mean only record 4 does.
    expect(plain.size).toBe(N);
    expect(Math.min(...plain.values())).toBeGreaterThan(0.9);
    expect([...about.keys()][0]).toBe(4);
    expect(about.get(4)!).toBeGreaterThan(0.8);
    expect(about.size).toBeLessThan(N / 2); // the others sit near 0 about the mean (sketch noise aside)
  });

  it("is the cosine of the gradients about their mean: the projection is linear", () => {
    // Exact arithmetic on unprojected vectors: centre, then cosine.
    const grads = Array.from({ length: N }, (_, r) => gradient(r));
    const mean = new Float64Array(DIM);
    for (const g of grads) for (let i = 0; i < DIM; i++) mean[i]! += g[i]! / N;
    const q = gradient(9);
    q[1 + 2] = 1; // record 9's own direction and record 2's, on the shared one
    const c = (v: Float32Array) => Array.from(v, (x, i) => x - mean[i]!);
    const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0) / (Math.hypot(...a) * Math.hypot(...b));
    const exact = cos(c(q), c(grads[9]!));
    const sketched = scoreSketches(set, projectGradient([q], K, 7), { centre: true, minCosine: -1, topK: N }).get(9)!;
    const plain = scoreSketches(set, projectGradient([q], K, 7), { centre: false, minCosine: -1, topK: N }).get(9)!;
    expect(plain - exact).toBeGreaterThan(0.2); // the plain cosine is another number: the shared direction dominates it
    expect(Math.abs(sketched - exact)).toBeLessThan(0.15); // a sketch: Johnson–Lindenstrauss distortion, not exactness
    expect(sketched).toBeGreaterThan(0.5);
  });

  it("refuses a query of another size, and scores nothing for a zero query", () => {
    expect(() => scoreSketches(set, new Float32Array(32))).toThrow(/32 numbers, the records' have 256/);
    expect(scoreSketches(set, new Float32Array(K), { centre: false }).size).toBe(0);
  });
});
