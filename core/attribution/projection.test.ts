import { describe, expect, it } from "vitest";
import { coordinateState, projectGradient } from "./projection.ts";

describe("projectGradient", () => {
  it("is fixed by the seed: the documented recipe gives these numbers", () => {
    // Recomputed by hand from docs/attribution.md: one coordinate (value 1), seed 1, k = 32.
    let x = coordinateState(1, 0);
    const expected = new Float64Array(32);
    for (let s = 0; s < 8; s++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      expected[(x >>> 1) % 32]! += x & 1 ? 1 : -1;
    }
    expect(Array.from(projectGradient([[1]], 32, 1))).toEqual(Array.from(expected, (v) => Math.fround(v / Math.sqrt(8))));
    expect(coordinateState(1, 0)).not.toBe(coordinateState(2, 0));
    expect(projectGradient([[1]], 32, 1)).not.toEqual(projectGradient([[1]], 32, 2));
  });

  it("treats consecutive parts as one vector and is linear", () => {
    const a = [0.5, -1, 2], b = [3, 0.25];
    const whole = projectGradient([[...a, ...b]], 64, 9);
    expect(projectGradient([a, b], 64, 9)).toEqual(whole);
    const doubled = projectGradient([[...a, ...b].map((v) => 2 * v)], 64, 9);
    doubled.forEach((v, i) => expect(v).toBeCloseTo(2 * whole[i]!, 5));
  });

  it("keeps inner products roughly (Johnson–Lindenstrauss)", () => {
    let s = 3;
    const rand = () => ((s = (s * 16807) % 2147483647), s / 2147483647 - 0.5);
    const d = 2000, u = Array.from({ length: d }, rand), v = u.map((x) => x + 0.5 * rand());
    const dot = (p: ArrayLike<number>, q: ArrayLike<number>) => Array.from(p).reduce((acc, x, i) => acc + x * q[i]!, 0);
    const cos = (p: ArrayLike<number>, q: ArrayLike<number>) => dot(p, q) / Math.sqrt(dot(p, p) * dot(q, q));
    const pu = projectGradient([u], 512, 5), pv = projectGradient([v], 512, 5);
    expect(Math.abs(cos(pu, pv) - cos(u, v))).toBeLessThan(0.08);
  });

  it("refuses a sketch size that is not a multiple of 32", () => {
    expect(() => projectGradient([[1]], 48, 1)).toThrow(/multiple of 32/);
  });
});
