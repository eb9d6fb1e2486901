import { describe, expect, it } from "vitest";
import { AttributionIndexError, buildSpanIndex } from "../../core/attribution/index.ts";
import { decodeSketches, decodeSpanIndex, encodeSafetensors, encodeSketches, encodeSpanIndex } from "./attribution-files.ts";
import { buildAttributionIndex } from "./attribution-index.ts";

const A = "0x00000000000000000000000000000000000000A1";
const records = [
  { contributionId: "ct_1", datanetId: "dn_1", version: 1, contributor: A, tokens: [5, 6, 7, 8] },
  { contributionId: "ct_2", datanetId: "dn_1", version: 2, contributor: A, tokens: [6, 7, 9] },
];
const index = () => buildSpanIndex(records.map(({ tokens, ...record }) => ({ tokens, record })));

describe("attribution-index.safetensors", () => {
  it("round-trips the index built from the training records", () => {
    const bytes = buildAttributionIndex(records);
    expect(new DataView(bytes.buffer).getBigUint64(0, true) % 8n).toBe(0n); // data 8-byte aligned
    expect(decodeSpanIndex(bytes, 16)).toEqual(index());
  });

  it.each([
    ["empty bytes", () => new Uint8Array(0), /shorter than a safetensors header/],
    ["a cut-off file", () => encodeSpanIndex(index()).subarray(0, 100), /header length|offsets/],
    ["a flipped byte in the suffix array", () => { const b = encodeSpanIndex(index()).slice(); b[b.length - 4 * 2 - 4 * 5]! ^= 1; return b; }, /suffix array|record|vocabulary/],
    ["another format", () => encodeSafetensors({}, { format: "other/1" }), /format other\/1/],
    ["records metadata that is not JSON", () => { const ix = index(); return encodeSafetensors({ tokens: { dtype: "I32", shape: [ix.tokens.length], data: ix.tokens } }, { format: "mf-span-index/1", records: "{" }); }, /records is not JSON/],
  ])("refuses %s with an AttributionIndexError", (_what, bytes, message) => {
    expect(() => decodeSpanIndex(bytes(), 16)).toThrow(AttributionIndexError);
    expect(() => decodeSpanIndex(bytes(), 16)).toThrow(message);
  });

  it("refuses an index whose tokens are outside the serving model's vocabulary", () => {
    expect(() => decodeSpanIndex(buildAttributionIndex(records), 8)).toThrow(/outside the vocabulary of 8/);
  });
});

describe("gradient-sketches.safetensors", () => {
  const set = { k: 32, seed: 7, sketches: Float32Array.from({ length: 64 }, (_, i) => i / 10) };
  it("round-trips, tied to the index's records in order", () => {
    const bytes = encodeSketches(set, ["ct_1", "ct_2"]);
    expect(decodeSketches(bytes, index())).toEqual(set);
    expect(() => decodeSketches(encodeSketches(set, ["ct_2", "ct_1"]), index())).toThrow(/not the span index's records/);
    expect(() => encodeSketches(set, ["ct_1"])).toThrow(RangeError);
  });

  it("refuses non-finite sketches", () => {
    const bad = { ...set, sketches: set.sketches.slice() };
    bad.sketches[3] = NaN;
    expect(() => decodeSketches(encodeSketches(bad, ["ct_1", "ct_2"]), index())).toThrow(/non-finite/);
  });
});
