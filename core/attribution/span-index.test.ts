import { describe, expect, it } from "vitest";
import { AttributionIndexError } from "./errors.ts";
import { buildSpanIndex, checkSpanIndex, maximalMatches, recordAt, type IndexedRecord } from "./span-index.ts";

const rec = (i: number): IndexedRecord => ({ contributionId: `ct_${i}`, datanetId: "dn_1", version: 1, contributor: `0x${String(i).repeat(40).slice(0, 40)}` });
const index = () =>
  buildSpanIndex([
    { tokens: [10, 11, 12, 13, 14], record: rec(1) },
    { tokens: [20, 11, 12, 13, 21], record: rec(2) },
    { tokens: [], record: rec(3) },
    { tokens: [12, 13, 14, 15], record: rec(4) },
  ]);

describe("buildSpanIndex", () => {
  it("ends every record with −1 and maps every position back to its record", () => {
    const ix = index();
    expect(Array.from(ix.tokens)).toEqual([10, 11, 12, 13, 14, -1, 20, 11, 12, 13, 21, -1, -1, 12, 13, 14, 15, -1]);
    expect(Array.from(ix.recordStarts)).toEqual([0, 6, 12, 13]);
    expect([0, 5, 6, 11, 12, 13, 17].map((p) => recordAt(ix, p))).toEqual([0, 0, 1, 1, 2, 3, 3]);
    expect(checkSpanIndex(ix, 32)).toBe(ix);
  });

  it("refuses negative or fractional token ids", () => {
    expect(() => buildSpanIndex([{ tokens: [1, -1], record: rec(1) }])).toThrow(/ct_1: token -1/);
    expect(() => buildSpanIndex([{ tokens: [1.5], record: rec(1) }])).toThrow(/not a non-negative integer/);
  });
});

describe("checkSpanIndex", () => {
  const corrupt = (edit: (ix: ReturnType<typeof index>) => void) => {
    const ix = index();
    ix.tokens = ix.tokens.slice();
    ix.suffixArray = ix.suffixArray.slice();
    ix.recordStarts = ix.recordStarts.slice();
    edit(ix);
    return () => checkSpanIndex(ix, 32, "span-index.safetensors");
  };

  it.each([
    ["a token outside the vocabulary", (ix: ReturnType<typeof index>) => void (ix.tokens[0] = 99), /outside the vocabulary/],
    ["a changed token (suffixes no longer sorted)", (ix: ReturnType<typeof index>) => void (ix.tokens[1] = 31), /not the sorted suffixes/],
    ["two suffix entries swapped", (ix: ReturnType<typeof index>) => void ([ix.suffixArray[3], ix.suffixArray[4]] = [ix.suffixArray[4]!, ix.suffixArray[3]!]), /not the sorted suffixes/],
    ["a truncated suffix array", (ix: ReturnType<typeof index>) => void (ix.suffixArray = ix.suffixArray.subarray(1)), /suffix array of/],
    ["a record start moved", (ix: ReturnType<typeof index>) => void (ix.recordStarts[1] = 7), /record 1 does not start/],
    ["a record without its owner", (ix: ReturnType<typeof index>) => void ix.records.pop(), /3 records but 4 record starts/],
    ["an owner without a contributor", (ix: ReturnType<typeof index>) => void ((ix.records[0] as { contributor?: string }).contributor = undefined), /lacks contributionId/],
  ])("refuses %s with an AttributionIndexError naming the file", (_what, edit, message) => {
    const check = corrupt(edit);
    expect(check).toThrow(AttributionIndexError);
    expect(check).toThrow(message);
    expect(check).toThrow(/^span-index.safetensors: /);
  });
});

describe("maximalMatches", () => {
  it("finds the longest verbatim spans, never across a record end, and keeps only maximal ones", () => {
    const ix = index();
    // 11 12 13 14 15: "11 12 13 14" is in record 1; "12 13 14 15" in record 4 (maximal, it ends later).
    const m = maximalMatches(ix, [11, 12, 13, 14, 15], 2);
    expect(m.map(({ start, length, lo, hi }) => ({ start, length, occurrences: hi - lo }))).toEqual([
      { start: 0, length: 4, occurrences: 1 },
      { start: 1, length: 4, occurrences: 1 },
    ]);
    // 14 −1 20 would cross the end of record 1: the match stops at 14.
    expect(maximalMatches(ix, [13, 14, -1, 20], 1).map((x) => [x.start, x.length])).toEqual([[0, 2], [3, 1]]);
    expect(maximalMatches(ix, [99, 98], 1)).toEqual([]);
  });

  it("drops spans shorter than the minimum", () => {
    expect(maximalMatches(index(), [11, 12, 13, 14, 15], 5)).toEqual([]);
  });
});
