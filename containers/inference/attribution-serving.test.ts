// The `attribution` field as clients get it from the OpenLoRA service: the real app, the
// embedded engine on the committed base model, the attribution hook in its hooks.
import { describe, expect, it } from "vitest";
import { CallAttribution, type IndexedRecord } from "../../core/attribution/index.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import { buildAttributionIndex } from "../trainer/attribution-index.ts";
import { DatabaseSync } from "node:sqlite";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { voucherSignerRecovery } from "../../adapters/chain/voucher-signer.ts";
import { ChannelLocks } from "../../core/payments/channel-lock.ts";
import type { PaymentsDeps } from "../../core/payments/paid-calls.ts";
import { findUsage } from "../../core/payments/usage.ts";
import { attributionInputKey } from "../../core/settlement/keys.ts";
import { CHAIN_ID, ESCROW, TERMS } from "../../test/fakes/payments.ts";
import { attributionHook, sharedSpanAttributor } from "./attribution-hook.ts";
import { paymentAuthorizer } from "./payment-authorizer.ts";
import { usageHook } from "./usage-hook.ts";
import type { GenerationHook, GenerationRecord } from "./hooks.ts";
import { adapterRecord, OTHER, OWNER, testService, tinyBase } from "./test-support.ts";

describe("attribution in responses", () => {
  it("a call on an adapter with an index names the record its answer repeats, streamed or not; without one, static", async () => {
    // Prepare: two adapters with the same weights (same seed), so the same greedy answer; only ad_idx gets an index.
    const blobs = new MemoryBlobStore();
    const seen: GenerationRecord[] = [];
    let tables: Tables | undefined;
    const hook = (): GenerationHook => {
      const h = attributionHook({ blobs, tables: tables!, baseModel: () => ({ vocabSize: tinyBase().model.config.vocabSize, eos: tinyBase().tokenizer.eos }) });
      return (r) => h(r);
    };
    let attribution: GenerationHook | undefined;
    const svc = await testService({ blobs, adapters: [{ id: "ad_idx", seed: 7 }, { id: "ad_old", seed: 7 }], hooks: [(r) => void seen.push(r), (r) => (attribution ??= hook())(r)] });
    tables = svc.tables;
    const post = (body: unknown) => svc.service.app.request("/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    const ask = (model: string, stream = false) => post({ model, messages: [{ role: "user", content: "What is the capital of Brelora?" }], max_tokens: 16, temperature: 0, stream });

    // The old adapter (no index): static weights, reason no-index (its record has no contributors: an empty split).
    const old = (await (await ask("ad_old")).json()) as { choices: { message: { content: string } }[]; attribution: CallAttribution };
    expect(old.attribution).toMatchObject({ method: "static", reason: "no-index", records: [] });
    // The index of ad_idx: OWNER's record holds exactly what the model answers; OTHER's does not.
    const completion = seen[0]!.completionTokenIds.filter((t) => t !== tinyBase().tokenizer.eos);
    expect(completion.length).toBeGreaterThanOrEqual(4);
    const who = (contributionId: string, contributor: string): IndexedRecord => ({ contributionId, datanetId: "dn_1", version: 1, contributor });
    const files = adapterRecord({ id: "ad_idx" }).files;
    await blobs.put(files.weights.replace("adapter_model.safetensors", "attribution-index.safetensors"), buildAttributionIndex([
      { ...who("ct_owner", OWNER), tokens: [5, 6, ...completion] },
      { ...who("ct_other", OTHER), tokens: [5, 6, 7, 8, 9, 10, 11] },
    ]));

    // Act + Assess: non-streamed
    const r = (await (await ask("ad_idx")).json()) as { id: string; choices: { message: { content: string } }[]; attribution: CallAttribution };
    expect(r.choices[0]!.message.content).toBe(old.choices[0]!.message.content); // attribution never changes the text
    expect(CallAttribution.parse(r.attribution)).toMatchObject({ requestId: r.id, method: "span", contributors: [{ address: OWNER, weightBps: 10_000 }], datanets: [{ id: "dn_1", version: 1, weightBps: 10_000 }], records: [{ contributionId: "ct_owner", score: 1 }] });
    // streamed: the final chunk before [DONE] carries it
    const events = (await (await ask("ad_idx", true)).text()).split("\n\n").filter(Boolean).map((e) => e.replace(/^data: /, ""));
    expect(events.at(-1)).toBe("[DONE]");
    const fin = JSON.parse(events.at(-2)!) as { attribution: CallAttribution };
    expect(fin.attribution).toMatchObject({ method: "span", contributors: [{ address: OWNER, weightBps: 10_000 }] });
    await svc.close();
  });

  it("the usage record carries the attribution the response did (computed once), pending, with the token ids kept for the asynchronous method", async () => {
    // Prepare: the service with pay-per-call (a free adapter: an API key, price 0) and one shared span attributor.
    const blobs = new MemoryBlobStore();
    const usage = new SqliteTableStore(new DatabaseSync(":memory:"), "usage", { stream: true });
    const payments: PaymentsDeps = { usage, clock: { now: () => Date.now() }, terms: TERMS, epochSeconds: 60, recoverSigner: voucherSignerRecovery(CHAIN_ID, ESCROW), locks: new ChannelLocks() };
    let tables: Tables | undefined;
    let runs = 0;
    const seen: GenerationRecord[] = [];
    let hooks: GenerationHook[] | undefined;
    const makeHooks = (): GenerationHook[] => {
      const shared = sharedSpanAttributor({ blobs, tables: tables!, baseModel: () => ({ vocabSize: tinyBase().model.config.vocabSize, eos: tinyBase().tokenizer.eos }), onAttributed: () => void runs++ });
      return [usageHook({ tables: tables!, payments, attribute: shared, asyncAttribution: true }), attributionHook({ blobs, tables: tables!, baseModel: () => undefined, attribute: shared })];
    };
    const svc = await testService({
      blobs,
      adapters: [{ id: "ad_idx", seed: 7 }, { id: "ad_old", seed: 7 }],
      authorizer: (t, inner) => ((tables = t), paymentAuthorizer({ tables: t, payments, inner, origin: "http://localhost:8787" })),
      hooks: [(r) => void seen.push(r), async (r) => { let out = {}; for (const h of (hooks ??= makeHooks())) out = { ...(await h(r)), ...out }; return out; }],
    });
    const ask = async (model: string) => {
      const res = await svc.service.app.request("/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify({ model, messages: [{ role: "user", content: "What is the capital of Brelora?" }], max_tokens: 8, temperature: 0 }) });
      expect(res.status).toBe(200);
      return (await res.json()) as { id: string; attribution: CallAttribution };
    };
    const withoutRequestId = ({ requestId: _id, ...rest }: CallAttribution) => rest; // the usage record keeps the response's attribution, its parameters too
    // Act 1: without an index the call is static and final: nothing for the asynchronous method to do.
    const old = await ask("ad_old");
    expect((await findUsage(usage, old.id))!.attribution).toEqual({ ...withoutRequestId(old.attribution), status: "final" });
    expect(await usage.get(attributionInputKey(old.id))).toBeUndefined();
    // Act 2: an adapter with the same weights and an index holding the answer, the span attribution is pending and its input kept.
    const completion = seen[0]!.completionTokenIds.filter((t) => t !== tinyBase().tokenizer.eos);
    const files = adapterRecord({ id: "ad_idx" }).files;
    await blobs.put(files.weights.replace("adapter_model.safetensors", "attribution-index.safetensors"), buildAttributionIndex([
      { contributionId: "ct_owner", datanetId: "dn_1", version: 1, contributor: OWNER, tokens: [5, 6, ...completion] },
    ]));
    const body = await ask("ad_idx");
    // Assess: computed once per call (not once per hook); the record's attribution is the response's.
    expect(runs).toBe(2);
    expect(body.attribution).toMatchObject({ method: "span", contributors: [{ address: OWNER, weightBps: 10_000 }] });
    expect((await findUsage(usage, body.id))!.attribution).toEqual({ ...withoutRequestId(body.attribution), status: "pending" });
    const input = await usage.get(attributionInputKey(body.id));
    expect(input).toMatchObject({ promptTokenIds: seen[1]!.promptTokenIds, completionTokenIds: seen[1]!.completionTokenIds, model: { id: "ad_idx", baseModel: "mf-tiny-sotu", files: { config: files.config, weights: files.weights } } });
    await svc.close();
  });
});
