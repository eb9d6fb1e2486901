import { describe, expect, it } from "vitest";
import { ATTRIBUTION_METHOD_VERSION, attributeCall, type CallInput } from "./attribute-call.ts";
import { CallAttribution } from "./model.ts";
import { projectGradient } from "./projection.ts";
import { buildSpanIndex, type IndexedRecord } from "./span-index.ts";

const ALICE = "0x00000000000000000000000000000000000000A1";
const BOB = "0x00000000000000000000000000000000000000B2";
const CAROL = "0x00000000000000000000000000000000000000C3";
const TEMPLATE = [1, 2, 3, 4, 5, 6]; // "### Instruction:\nWhat is the capital of" — every record has it
const ANSWER = [7, 8]; // "### Response:\nThe capital is"

// Fact i: template, entity (100+i, 200+i), answer template, value (300+i, 301+i, 302+i).
const fact = (i: number) => [...TEMPLATE, 100 + i, 200 + i, ...ANSWER, 300 + i, 400 + i, 500 + i];
const owner = (i: number): IndexedRecord => ({ contributionId: `ct_${i}`, datanetId: i < 20 ? "dn_a" : "dn_b", version: 1, contributor: i % 3 === 0 ? ALICE : i % 3 === 1 ? BOB : CAROL });
const index = buildSpanIndex(Array.from({ length: 30 }, (_, i) => ({ tokens: fact(i), record: owner(i) })));
const STATIC = { contributors: [{ address: ALICE, weightBps: 5000 }, { address: BOB, weightBps: 3000 }, { address: CAROL, weightBps: 2000 }], datanets: [{ id: "dn_a", version: 1, weightBps: 6667 }, { id: "dn_b", version: 1, weightBps: 3333 }] };
const call = (over: Partial<CallInput>): CallInput => ({ requestId: "req_1", index, prompt: [...TEMPLATE, 100 + 4, 200 + 4, ...ANSWER], output: [300 + 4, 400 + 4, 500 + 4, 9], static: STATIC, ...over });
const sum = (xs: { weightBps: number }[]) => xs.reduce((s, x) => s + x.weightBps, 0);

describe("attributeCall", () => {
  it("names the record whose rare span the output repeats, and its contributor and Datanet", () => {
    const { attribution, evidence } = attributeCall(call({}));
    expect(CallAttribution.parse(attribution)).toEqual(attribution);
    expect(attribution.method).toBe("span");
    expect(attribution.records[0]).toMatchObject({ contributionId: "ct_4", contributor: BOB, datanetId: "dn_a", score: 1 });
    expect(attribution.contributors).toEqual([{ address: BOB, weightBps: 10_000 }]);
    expect(attribution.datanets).toEqual([{ id: "dn_a", version: 1, weightBps: 10_000 }]);
    // the output alone (3 tokens) is too short to count; the whole record, prompt into output, does
    expect(evidence.spans.map((s) => [s.query, s.length, s.records])).toEqual([["prompt+output", 13, 1]]);
  });

  it("gives a span every record shares (the template) to nobody: static, below threshold", () => {
    const { attribution } = attributeCall(call({ prompt: [9, 9], output: [...TEMPLATE, 9] }));
    expect(attribution).toMatchObject({ method: "static", reason: "below-threshold", records: [] });
    expect(attribution.contributors).toEqual(STATIC.contributors);
  });

  it("splits between records when the output holds spans of several, weights adding up to 10 000, sorted", () => {
    const output = [...fact(3).slice(6), 9, ...fact(5).slice(6), 9, ...fact(10).slice(6), 9, ...fact(6).slice(6)];
    const { attribution } = attributeCall(call({ prompt: [9], output }));
    expect(attribution.records.map((r) => r.contributionId).sort()).toEqual(["ct_10", "ct_3", "ct_5", "ct_6"]);
    expect(sum(attribution.contributors)).toBe(10_000);
    expect(sum(attribution.datanets)).toBe(10_000);
    const w = attribution.contributors.map((c) => c.weightBps);
    expect(w).toEqual([...w].sort((a, b) => b - a));
    expect(attribution.contributors[0]).toEqual({ address: ALICE, weightBps: 5000 }); // ct_3 and ct_6
    expect(attribution.records.reduce((s, r) => s + r.score, 0)).toBeCloseTo(1, 5);
  });

  it("lists at most 10 records", () => {
    const output = Array.from({ length: 14 }, (_, i) => [...fact(i).slice(6), 9]).flat();
    const { attribution } = attributeCall(call({ prompt: [9], output }));
    expect(attribution.records).toHaveLength(10);
    expect(sum(attribution.contributors)).toBe(10_000);
  });

  it("falls back to the static weights without an index, saying why", () => {
    expect(attributeCall(call({ index: null })).attribution).toEqual({ requestId: "req_1", method: "static", reason: "no-index", contributors: STATIC.contributors, datanets: STATIC.datanets, records: [] });
    expect(attributeCall(call({ index: null, indexProblem: "index-unreadable" })).attribution.reason).toBe("index-unreadable");
    expect(attributeCall(call({ output: [] })).attribution.reason).toBe("no-output");
  });

  it("re-splits static weights that do not add up to 10 000", () => {
    const { attribution } = attributeCall(call({ index: null, static: { contributors: [{ address: ALICE, weightBps: 1 }, { address: BOB, weightBps: 2 }], datanets: [{ id: "dn_a", version: 1, weightBps: 7 }] } }));
    expect(attribution.contributors).toEqual([{ address: BOB, weightBps: 6667 }, { address: ALICE, weightBps: 3333 }]);
    expect(attribution.datanets).toEqual([{ id: "dn_a", version: 1, weightBps: 10_000 }]);
  });

  it("combines span and gradient evidence, and uses gradients alone when no span counts", () => {
    // Sketches: record i's gradient is the unit vector e_i; the call's points at record 7.
    const k = 64;
    const grad = (i: number) => { const g = new Float32Array(40); g[i] = 1; return projectGradient([g], k, 42); };
    const sketches = new Float32Array(30 * k);
    for (let i = 0; i < 30; i++) sketches.set(grad(i), i * k);
    const gradient = { sketches: { k, seed: 42, sketches }, query: grad(7) };
    const both = attributeCall(call({ gradient })).attribution;
    expect(both.method).toBe("combined");
    expect(both.records.slice(0, 2).map((r) => r.contributionId).sort()).toEqual(["ct_4", "ct_7"]);
    expect(sum(both.contributors)).toBe(10_000);
    const alone = attributeCall(call({ prompt: [9], output: [9, 9], gradient })).attribution;
    expect(alone.method).toBe("gradient");
    expect(alone.records[0]!.contributionId).toBe("ct_7");
    // sketches of another size are ignored, not fatal
    expect(attributeCall(call({ gradient: { ...gradient, query: new Float32Array(32) } })).attribution.method).toBe("span");
  });

  it("records the settings a scored result was computed with, and only a scored one", () => {
    const k = 64, sketches = { k, seed: 42, sketches: new Float32Array(30 * k).fill(1) };
    const span = attributeCall(call({}), { spanShare: 0.5, span: { minSpanTokens: 3 } }).attribution;
    expect(span.parameters).toEqual({ version: ATTRIBUTION_METHOD_VERSION, span: { minSpanTokens: 3, maxOccurrences: 1000, minSpanScore: 5 }, spanShare: 0.5, maxRecords: 10 });
    expect(CallAttribution.parse(span).parameters).toEqual(span.parameters);
    // the sketches' k and seed and the gradient settings, once the call's sketch was compared
    const combined = attributeCall(call({ gradient: { sketches, query: new Float32Array(k).fill(1) } }), { gradient: { minCosine: 0.3 } }).attribution;
    expect(combined.parameters!.gradient).toEqual({ k, seed: 42, minCosine: 0.3, topK: 32, centre: false });
    // below the threshold the settings decided it; with no index or no output nothing was scored
    expect(attributeCall(call({ prompt: [9, 9], output: [...TEMPLATE, 9] })).attribution.parameters).toMatchObject({ span: { minSpanScore: 5 } });
    expect(attributeCall(call({ index: null })).attribution.parameters).toBeUndefined();
    expect(attributeCall(call({ output: [] })).attribution.parameters).toBeUndefined();
  });

  it("is deterministic: the same call attributed twice gives the same result", () => {
    const output = [...fact(3).slice(6), 9, ...fact(5).slice(6)];
    expect(attributeCall(call({ prompt: [9], output }))).toEqual(attributeCall(call({ prompt: [9], output })));
  });
});
