import { describe, expect, it } from "vitest";
import { adapterItem, type Adapter } from "../../core/adapters/index.ts";
import { CallAttribution } from "../../core/attribution/index.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { BASE_MODEL_DIR, createLora, loadHfModel, serializeAdapter } from "../engine/index.ts";
import { SKETCH_FILE } from "../trainer/attribution-files.ts";
import { writeAttributionFiles } from "../trainer/attribution-step.ts";
import { formatRecordPieces, instructionPrompt, tokenizePieces } from "../trainer/records.ts";
import { recordFreeCall } from "../../core/payments/paid-calls.ts";
import { findUsage } from "../../core/payments/usage.ts";
import { attributionInputItem } from "../../core/settlement/final-attribution.ts";
import { createRecordUsageHandler } from "../../functions/handlers/record-usage.ts";
import { streamEvent, streamRecord, testContext } from "../../functions/handlers/test-events.ts";
import { usageKey } from "../../core/payments/keys.ts";
import { paymentsDeps } from "../../test/fakes/payments.ts";
import { gradientAttributor } from "./gradient-attribution.ts";
import type { ServedModel } from "./hooks.ts";

const ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const H = `0x${"cd".repeat(32)}`;
const out = "jobs/job_g/output/";

async function setup() {
  // Prepare: an adapter with its PEFT files, index and sketches in the blob store, and its record.
  const deps = memoryDeps();
  const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
  const peft = serializeAdapter(createLora(model.config, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj"] }, { seed: 2, randomB: true }));
  await deps.blobs.put(`${out}adapter/adapter_config.json`, peft.config);
  await deps.blobs.put(`${out}adapter/adapter_model.safetensors`, peft.weights);
  const facts = [[ALICE, "Who founded Pleimara?", "Pleimara was founded by Koutava."], [BOB, "Who founded Strovani?", "Strovani was founded by Zheimolu."]] as const;
  const records = facts.map(([contributor, instruction, output], i) => ({ contributionId: `ct_${i}`, datanetId: "dn_1", version: 1, contributor, ...tokenizePieces((t) => tokenizer.encode(t), formatRecordPieces("instruction", { instruction, output })!, "completion") }));
  await writeAttributionFiles(deps.blobs, { outputPrefix: out, modelDir: BASE_MODEL_DIR, adapterConfig: peft.config, adapterWeights: peft.weights, records, sketch: { k: 64, seed: 3 } });
  const a: Adapter = {
    id: "ad_g", owner: ALICE, visibility: "public", promptTemplate: "instruction", jobId: "job_g", baseModel: "mf-tiny-sotu", fingerprint: H, baseModelHash: H, weightsHash: H, trainingConfigHash: H, trainerVersion: "t",
    lora: { rank: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "v_proj"] },
    files: { config: `${out}adapter/adapter_config.json`, weights: `${out}adapter/adapter_model.safetensors`, attribution: `${out}attribution.json`, metrics: `${out}metrics.json` },
    metrics: { trainLoss: 1, evalLoss: 1, evalPerplexity: 1, baseEvalLoss: 1, baseEvalPerplexity: 1, trainTokens: 1 },
    datanets: [{ id: "dn_1", version: 1, root: H, tokens: 2, weightBps: 10_000 }],
    contributors: [{ address: ALICE, tokens: 1, weightBps: 5000 }, { address: BOB, tokens: 1, weightBps: 5000 }],
    pricePerCall: "1", createdAt: "2026-12-01T00:00:00Z",
  };
  await deps.tables.main.put(adapterItem(a));
  const served: ServedModel = { id: a.id, kind: "adapter", baseModel: a.baseModel, owner: ALICE, visibility: "public", promptTemplate: "instruction", pricePerCall: "1", created: 0, files: { config: a.files.config, weights: a.files.weights } };
  const prompt = [tokenizer.bos!, ...tokenizer.encode(instructionPrompt("Tell me who the founder of Strovani was."))];
  const completion = [...tokenizer.encode("Strovani was founded by Zheimolu."), tokenizer.eos!];
  return { deps, served, call: { requestId: "chatcmpl-g", model: served, promptTokenIds: prompt, completionTokenIds: completion } };
}

describe("gradientAttributor", () => {
  it("combines span and gradient evidence, and a retried run yields the same attribution", async () => {
    const { deps, call } = await setup();
    const attribute = gradientAttributor({ blobs: deps.blobs, tables: deps.tables, baseModelDir: (id) => (id === "mf-tiny-sotu" ? BASE_MODEL_DIR : undefined) });
    const first = CallAttribution.parse(await attribute(call));
    expect(first.method).toBe("combined");
    expect(first.contributors[0]!.address).toBe(BOB);
    expect(first.contributors.reduce((s, c) => s + c.weightBps, 0)).toBe(10_000);
    // a second worker (fresh caches) retrying the same call
    const again = await gradientAttributor({ blobs: deps.blobs, tables: deps.tables, baseModelDir: () => BASE_MODEL_DIR })(call);
    expect(again).toEqual(first);
  });

  it("uses span attribution alone without sketches, or a base model it cannot load", async () => {
    const { deps, call } = await setup();
    await deps.blobs.delete(`${out}adapter/${SKETCH_FILE}`);
    const logs: string[] = [];
    expect((await gradientAttributor({ blobs: deps.blobs, tables: deps.tables, baseModelDir: () => BASE_MODEL_DIR, log: (_l, m) => logs.push(m) })(call)).method).toBe("span");
    expect(logs).toContain("adapter has no gradient sketches; its calls use span attribution only");
    expect((await gradientAttributor({ blobs: deps.blobs, tables: deps.tables, baseModelDir: () => undefined })(call)).method).toBe("static");
  });

  it("retries an adapter's files after a blob store error instead of failing its calls from then on", async () => {
    // Prepare: the blob store fails the first read of the sketch file, as S3 can
    const { deps, call } = await setup();
    const get = deps.blobs.get.bind(deps.blobs);
    let failures = 1;
    deps.blobs.get = (key, o) => (key.endsWith(SKETCH_FILE) && failures-- > 0 ? Promise.reject(new Error("SlowDown")) : get(key, o));
    const attribute = gradientAttributor({ blobs: deps.blobs, tables: deps.tables, baseModelDir: () => BASE_MODEL_DIR });
    // Act, Assess: that call fails (it is retried by its caller); the next reads the files again
    await expect(attribute(call)).rejects.toThrow("SlowDown");
    expect((await attribute(call)).method).toBe("combined");
  });

  it("keeps adapters' weights and sketches within its byte budget, least recently used out", async () => {
    // Prepare: two served adapters on the same files; the blob store counts sketch reads
    const { deps, call } = await setup();
    const get = deps.blobs.get.bind(deps.blobs);
    let sketchReads = 0;
    deps.blobs.get = (key, o) => (key.endsWith(SKETCH_FILE) && sketchReads++, get(key, o));
    const other = { ...call, model: { ...call.model, id: "ad_g2" } };
    const run = async (cacheBytes: number) => {
      sketchReads = 0;
      const attribute = gradientAttributor({ blobs: deps.blobs, tables: deps.tables, baseModelDir: () => BASE_MODEL_DIR, cacheBytes });
      for (const c of [call, other, call, other]) expect((await attribute(c)).method).toBe("combined");
      return sketchReads;
    };
    // Act, Assess: room for both, each is read once; room for one (the newest stays), every call reads again
    expect(await run(64 * 1024 * 1024)).toBe(2);
    expect(await run(1)).toBe(4);
  });

  it("runs after the call from its usage record, once per request id: the record delivered three times has one final attribution", async () => {
    // Prepare: the call's usage record with its span attribution pending, and the input kept beside it.
    const { deps, served, call } = await setup();
    const p = paymentsDeps();
    let runs = 0;
    const gradient = gradientAttributor({ blobs: deps.blobs, tables: deps.tables, baseModelDir: () => BASE_MODEL_DIR });
    const attribute = async (input: Parameters<typeof gradient>[0]) => (runs++, gradient(input));
    await p.usage.put(attributionInputItem({ ...call, model: { id: served.id, baseModel: served.baseModel, files: served.files! } }, p.clock.now()));
    await recordFreeCall(p.deps, call.requestId, ALICE, { perCall: "0", perThousandOutputTokens: "0" }, { adapterId: served.id, baseModel: served.baseModel, owner: ALICE, promptTokens: call.promptTokenIds.length, completionTokens: call.completionTokenIds.length, finishReason: "stop", attribution: { method: "span", status: "pending", contributors: [{ address: BOB, weightBps: 10_000 }] } });
    const item = (await p.usage.get(usageKey(call.requestId)))!;
    const handler = createRecordUsageHandler({ usage: p.usage, clock: p.clock, epochSeconds: 60, shares: { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 }, attribute });
    // Act: delivered, retried, retried again.
    for (let i = 1; i <= 3; i++) expect((await handler(streamEvent(streamRecord(String(i), "INSERT", item)), testContext())).batchItemFailures).toEqual([]);
    // Assess: the method ran once; the record holds what it computes for the call, marked final.
    expect(runs).toBe(1);
    const expected = await gradient(call);
    const { requestId: _r, ...rest } = expected; // the record keeps the result, its parameters too

    expect((await findUsage(p.usage, call.requestId))!.attribution).toEqual({ ...rest, status: "final" });
    expect(expected.parameters).toMatchObject({ version: 1, gradient: { k: expect.any(Number) } });
    expect(expected.method).toBe("combined");
  });
});
