import { describe, expect, it } from "vitest";
import { buildSuffixArray, isSuffixArrayOf, narrow } from "./suffix-array.ts";

// The obvious O(n² log n) reference: sort the suffixes themselves.
function naive(text: number[]): number[] {
  const cmp = (a: number, b: number) => {
    while (a < text.length && b < text.length) {
      if (text[a] !== text[b]) return text[a]! - text[b]!;
      a++;
      b++;
    }
    return a < text.length ? 1 : b < text.length ? -1 : 0;
  };
  return text.map((_, i) => i).sort(cmp);
}

describe("buildSuffixArray", () => {
  it("sorts the suffixes of a small example", () => {
    expect(Array.from(buildSuffixArray(Int32Array.from([2, 1, 2])))).toEqual([1, 2, 0]);
    expect(Array.from(buildSuffixArray(new Int32Array(0)))).toEqual([]);
  });

  it("matches the naive sort on random streams with record ends and long repeats", () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + rand(300), alphabet = 1 + rand(6);
      const text = Array.from({ length: n }, () => rand(alphabet + 1) - 1); // −1 .. alphabet−1
      if (trial % 5 === 0) text.splice(0, text.length, ...Array(n).fill(3)); // one long run
      const sa = buildSuffixArray(Int32Array.from(text));
      expect(Array.from(sa)).toEqual(naive(text));
      expect(isSuffixArrayOf(Int32Array.from(text), sa)).toBe(true);
    }
  });

  it("refuses tokens below −1", () => {
    expect(() => buildSuffixArray(Int32Array.from([1, -2]))).toThrow(/below −1/);
  });
});

describe("isSuffixArrayOf", () => {
  it("rejects a swapped, repeated or short array", () => {
    const text = Int32Array.from([3, 1, 2, -1, 1, 2]);
    const sa = buildSuffixArray(text);
    const swapped = sa.slice();
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    expect(isSuffixArrayOf(text, swapped)).toBe(false);
    const repeated = sa.slice();
    repeated[0] = repeated[1]!;
    expect(isSuffixArrayOf(text, repeated)).toBe(false);
    expect(isSuffixArrayOf(text, sa.subarray(1))).toBe(false);
  });
});

describe("narrow", () => {
  it("finds every occurrence of a pattern token by token", () => {
    const text = Int32Array.from([1, 2, 3, -1, 2, 3, 4, -1, 2, 3]);
    const sa = buildSuffixArray(text);
    let [lo, hi] = narrow(text, sa, 0, sa.length, 0, 2);
    expect(hi - lo).toBe(3);
    [lo, hi] = narrow(text, sa, lo, hi, 1, 3);
    expect(hi - lo).toBe(3);
    [lo, hi] = narrow(text, sa, lo, hi, 2, 4);
    expect(Array.from(sa.subarray(lo, hi))).toEqual([4]);
    const [a, b] = narrow(text, sa, lo, hi, 3, 9);
    expect(b - a).toBe(0);
  });
});
