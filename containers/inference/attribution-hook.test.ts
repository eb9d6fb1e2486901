import { describe, expect, it } from "vitest";
import { adapterItem, type Adapter } from "../../core/adapters/index.ts";
import { CallAttribution } from "../../core/attribution/index.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { buildAttributionIndex } from "../trainer/attribution-index.ts";
import { attributionHook, attributionLoader, baseModelShape, indexKeyOf } from "./attribution-hook.ts";
import type { GenerationRecord, ServedModel } from "./hooks.ts";

// Prepare: an adapter record with static weights, and (per test) an index beside its weights.
const ALICE = "0x00000000000000000000000000000000000000A1", BOB = "0x00000000000000000000000000000000000000B2";
const H = `0x${"ab".repeat(32)}`;
const adapter = (id: string): Adapter => ({
  id, owner: ALICE, visibility: "public", promptTemplate: "instruction", jobId: "job_1", baseModel: "mf-tiny", fingerprint: H, baseModelHash: H, weightsHash: H, trainingConfigHash: H, trainerVersion: "t/1",
  lora: { rank: 8, alpha: 16, dropout: 0, targetModules: ["q_proj"] },
  files: { config: `jobs/${id}/output/adapter/adapter_config.json`, weights: `jobs/${id}/output/adapter/adapter_model.safetensors`, attribution: "a", metrics: "m" },
  metrics: { trainLoss: 1, evalLoss: 1, evalPerplexity: 1, baseEvalLoss: 1, baseEvalPerplexity: 1, trainTokens: 10 },
  datanets: [{ id: "dn_1", version: 1, root: H, tokens: 10, weightBps: 10_000 }],
  contributors: [{ address: ALICE, tokens: 7, weightBps: 7000 }, { address: BOB, tokens: 3, weightBps: 3000 }],
  pricePerCall: "1", createdAt: "2026-12-01T00:00:00Z",
});
const served = (a: Adapter): ServedModel => ({ id: a.id, kind: "adapter", baseModel: a.baseModel, owner: a.owner, visibility: "public", promptTemplate: "instruction", pricePerCall: "1", created: 0, files: { config: a.files.config, weights: a.files.weights } });
const generation = (model: ServedModel, completion: number[]): GenerationRecord => ({
  ctx: { requestId: "chatcmpl-1", route: "chat.completions", receivedAt: 0, caller: null, payer: null, principal: "p", model, price: "1", headers: new Headers() },
  promptText: "…", promptTokenIds: [0, 1, 2, 3], completionTokenIds: completion, completionText: "…",
  usage: { promptTokens: 4, completionTokens: completion.length, totalTokens: 4 + completion.length }, finishReason: "stop", timings: { receivedAt: 0, firstTokenAt: 1, finishedAt: 2 },
});
// Records: ALICE's holds 1 2 3 | 10 11 12 13; BOB's holds 1 2 3 | 20 21 22 23 (same prompt template).
const trained = buildAttributionIndex([
  { contributionId: "ct_a", datanetId: "dn_1", version: 1, contributor: ALICE, tokens: [1, 2, 3, 10, 11, 12, 13] },
  { contributionId: "ct_b", datanetId: "dn_1", version: 1, contributor: BOB, tokens: [1, 2, 3, 20, 21, 22, 23] },
]);

async function setup(indexBytes: Uint8Array | null) {
  const deps = memoryDeps();
  const a = adapter("ad_1");
  await deps.tables.main.put(adapterItem(a));
  if (indexBytes) await deps.blobs.put(indexKeyOf(served(a))!, indexBytes);
  const logs: Array<[string, string]> = [];
  const timed: number[] = [];
  const hook = attributionHook({ blobs: deps.blobs, tables: deps.tables, baseModel: () => ({ vocabSize: 64, eos: 0 }), log: (level, m) => logs.push([level, m]), onAttributed: (_a, ms) => timed.push(ms) });
  return { hook, model: served(a), logs, timed };
}

describe("attributionHook", () => {
  it("adds the span attribution of the completion (EOS dropped) as `attribution`", async () => {
    const { hook, model, timed } = await setup(trained);
    const out = (await hook(generation(model, [20, 21, 22, 23, 0]))) as { attribution: CallAttribution };
    expect(CallAttribution.parse(out.attribution)).toMatchObject({ requestId: "chatcmpl-1", method: "span", contributors: [{ address: BOB, weightBps: 10_000 }], records: [{ contributionId: "ct_b", score: 1 }] });
    expect(timed).toHaveLength(1);
  });

  it("serves an adapter trained before indexes existed with its static weights", async () => {
    const { hook, model, logs } = await setup(null);
    const out = (await hook(generation(model, [20, 21, 22, 23, 0]))) as { attribution: CallAttribution };
    expect(out.attribution).toMatchObject({ method: "static", reason: "no-index", contributors: [{ address: ALICE, weightBps: 7000 }, { address: BOB, weightBps: 3000 }], records: [] });
    expect(logs[0]![0]).toBe("info");
  });

  it("falls back to static for a corrupt index, logs it once, and never throws", async () => {
    const corrupt = trained.slice();
    corrupt[corrupt.length - 40]! ^= 0x7f;
    const { hook, model, logs } = await setup(corrupt);
    for (let i = 0; i < 3; i++) {
      const out = (await hook(generation(model, [20, 21, 22, 23]))) as { attribution: CallAttribution };
      expect(out.attribution).toMatchObject({ method: "static", reason: "index-unreadable" });
    }
    expect(logs.filter(([level]) => level === "warn")).toHaveLength(1);
    const garbage = await setup(new TextEncoder().encode("not safetensors at all"));
    expect(((await garbage.hook(generation(garbage.model, [1]))) as { attribution: CallAttribution }).attribution.reason).toBe("index-unreadable");
  });

  it("adds nothing to base-model calls", async () => {
    const { hook, model } = await setup(trained);
    expect(await hook(generation({ ...model, id: "mf-tiny", kind: "base", files: undefined }, [1, 2]))).toBeUndefined();
  });
});

describe("attributionLoader's cache", () => {
  // Three adapters, each with the same index; the blob store counts the index reads.
  async function three() {
    const deps = memoryDeps();
    const reads: string[] = [];
    const get = deps.blobs.get.bind(deps.blobs);
    deps.blobs.get = (key, o) => (reads.push(key), get(key, o));
    const models = [];
    for (const id of ["ad_1", "ad_2", "ad_3"]) {
      const a = adapter(id);
      await deps.tables.main.put(adapterItem(a));
      await deps.blobs.put(indexKeyOf(served(a))!, trained);
      models.push(served(a));
    }
    return { deps, reads, models };
  }
  const sized = async (cacheBytes: number) => {
    const { deps, reads, models } = await three();
    const load = attributionLoader({ blobs: deps.blobs, tables: deps.tables, baseModel: () => ({ vocabSize: 64, eos: 0 }), cacheBytes });
    const one = (await load(models[0]!)).index!;
    return { load, reads, models, bytesOfOne: one.tokens.byteLength + one.suffixArray.byteLength + one.recordStarts.byteLength + one.records.length * 256 + 1024 };
  };

  it("keeps indexes within its byte budget, least recently used out, and reads an evicted one again", async () => {
    const probe = await sized(Number.MAX_SAFE_INTEGER);
    const { load, reads, models } = await sized(2 * probe.bytesOfOne); // room for two
    await load(models[1]!);
    await load(models[0]!); // ad_1 most recent: ad_2 is the oldest now
    await load(models[2]!); // over budget: ad_2 out
    expect(reads.map((k) => k.split("/")[1])).toEqual(["ad_1", "ad_2", "ad_3"]);
    await load(models[0]!);
    await load(models[2]!);
    expect(reads).toHaveLength(3); // both still held
    await load(models[1]!);
    expect(reads.map((k) => k.split("/")[1])).toEqual(["ad_1", "ad_2", "ad_3", "ad_2"]);
  });

  it("holds many more adapters when the budget allows, whatever their count", async () => {
    const probe = await sized(Number.MAX_SAFE_INTEGER);
    const { load, reads, models } = await sized(10 * probe.bytesOfOne);
    for (let round = 0; round < 3; round++) for (const m of models) await load(m);
    expect(reads).toHaveLength(3);
  });

  it("keeps the newest index even when it alone is over the budget", async () => {
    const { load, reads, models } = await sized(1);
    await load(models[0]!);
    expect(reads).toHaveLength(1);
    await load(models[1]!);
    await load(models[1]!);
    expect(reads).toHaveLength(2);
  });
});

describe("baseModelShape", () => {
  it("reads the vocabulary size and end-of-text id of a base model's files, or undefined", async () => {
    const { BASE_MODEL_DIR } = await import("../engine/index.ts");
    expect(baseModelShape(BASE_MODEL_DIR)).toEqual({ vocabSize: 512, eos: 0 });
    expect(baseModelShape("/nonexistent/model")).toBeUndefined();
  });
});
