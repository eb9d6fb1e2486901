import { describe, expect, it } from "vitest";
import { authorizePayment, completePayment } from "../../core/payments/paid-calls.ts";
import { readLedger } from "../../core/payments/channel-ledger.ts";
import { usageKey } from "../../core/payments/keys.ts";
import { attributionInputItem, type CallAttributor } from "../../core/settlement/final-attribution.ts";
import { rewardKey } from "../../core/settlement/keys.ts";
import { settleClosedPeriods } from "../../core/settlement/settle-period.ts";
import { createRecordUsageHandler } from "../../functions/handlers/record-usage.ts";
import { streamEvent, streamRecord, testContext } from "../../functions/handlers/test-events.ts";
import { FakeCompute } from "../../test/fakes/job-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import { openChannel, paymentHeader, paymentsDeps } from "../../test/fakes/payments.ts";
import { FakeSettlementChain } from "../../test/fakes/settlement-chain.ts";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { createApp } from "../app.ts";
import { signedInClient } from "../test-support.ts";

const SHARES = { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 };
const PRICE = { perCall: "1000", perThousandOutputTokens: "20000" };
const C2 = "0x00000000000000000000000000000000000000C2";

type View = {
  attribution: { method: string; status?: string; contributors: { address: string; weightBps: number }[] };
  settlement: { status: string; period: number | null; epoch: number | null };
  split: null | { basis: string; fee: string; method: string; platform: string; owner: { address: string; amount: string }; contributors: { address: string; weightBps: number; amount: string }[] };
};

async function world() {
  const p = paymentsDeps();
  const app = createApp(Object.assign(memoryDeps(), { compute: new FakeCompute(), payments: { usage: p.usage, isClaimed: async () => false } }));
  const [payer, owner, contributor, stranger] = [await signedInClient(app), await signedInClient(app), await signedInClient(app), await signedInClient(app)];
  // One paid call of 1,000 + 7 tokens × 20 = 1,140 on the payer's channel, its span attribution (the contributor alone) pending.
  const channel = await openChannel(p.deps, 1_000_000n, payer.wallet);
  const { header } = await paymentHeader(payer.wallet, channel.channel, (await readLedger(p.usage, channel.channel.channelId)).charged + 2280n, p.clock.now());
  const d = await authorizePayment(p.deps, { requestId: "chatcmpl-1", price: PRICE, maxTokens: 64, resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" }, paymentHeader: header });
  if (!d.ok) throw new Error(d.reason);
  await p.usage.put(attributionInputItem({ requestId: "chatcmpl-1", model: { id: "ad_1", baseModel: "tiny" }, promptTokenIds: [1], completionTokenIds: [2] }, p.clock.now()));
  await completePayment(p.deps, d.grant, { adapterId: "ad_1", baseModel: "tiny", owner: owner.address, promptTokens: 3, completionTokens: 7, finishReason: "stop", attribution: { method: "span", status: "pending", contributors: [{ address: contributor.address, weightBps: 10_000 }] } });
  // The asynchronous method finds a second contributor.
  const attribute: CallAttributor = async (input) => ({ requestId: input.requestId, method: "combined", contributors: [{ address: contributor.address, weightBps: 6000 }, { address: C2, weightBps: 4000 }], datanets: [], records: [] });
  const recordUsage = async () => {
    const item = (await p.usage.get(usageKey("chatcmpl-1")))!;
    await createRecordUsageHandler({ usage: p.usage, clock: p.clock, epochSeconds: 60, shares: SHARES, attribute })(streamEvent(streamRecord("1", "INSERT", item)), testContext());
  };
  const view = async (who: typeof payer) => {
    const res = await who.request("/v1/usage/chatcmpl-1");
    return { status: res.status, body: (await res.json()) as View };
  };
  return { p, payer, owner, contributor, stranger, recordUsage, view };
}

describe("GET /v1/usage/{requestId}", () => {
  it("shows the payer and the owner the call's final attribution and the fee split it produced, estimated then settled", async () => {
    // Prepare
    const w = await world();
    // Assess before the asynchronous method: pending, no split yet.
    const before = await w.view(w.payer);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ attribution: { method: "span", status: "pending" }, settlement: { status: "open", period: null }, split: null });

    // Act: record-usage runs the method and assigns the call.
    await w.recordUsage();
    const estimated = await w.view(w.owner);
    // Fee 1,140: platform ceil(114) = 114; 1,026 left, owner 2/9 = 228, contributors 798 → 478.8 / 319.2 → 479 / 319.
    expect(estimated.body.attribution).toMatchObject({ method: "combined", status: "final" });
    expect(estimated.body.split).toEqual({
      basis: "estimate",
      fee: "1140",
      shares: SHARES,
      method: "combined",
      platform: "114",
      owner: { address: w.owner.address, amount: "228" },
      contributors: [{ address: w.contributor.address, weightBps: 6000, amount: "479" }, { address: C2, weightBps: 4000, amount: "319" }],
    });
    expect(estimated.body.settlement.status).toBe("open");

    // Act: the period ends and is settled.
    w.p.clock.advance(70_000);
    const chain = new FakeSettlementChain(SHARES);
    await settleClosedPeriods({ usage: w.p.usage, main: new SqliteTableStore(w.p.db, "main", { stream: true }), blobs: new MemoryBlobStore(), clock: w.p.clock, chain, epochSeconds: 60, graceSeconds: 5 });
    const settled = await w.view(w.payer);
    // Assess: the same parts, now by the published epoch's shares, and what each account's reward holds.
    expect(settled.body.settlement).toMatchObject({ status: "settled", epoch: 1 });
    expect(settled.body.split).toMatchObject({ basis: "settled", platform: "114", owner: { amount: "228" } });
    const period = settled.body.settlement.period!;
    for (const c of settled.body.split!.contributors) expect((await w.p.usage.get(rewardKey(c.address, period)))?.amount).toBe(c.amount);
    expect((await w.p.usage.get(rewardKey(w.owner.address, period)))?.amount).toBe("228");
  });

  it("is 404 for anyone but the payer and the owner, a contributor of the call included", async () => {
    const w = await world();
    await w.recordUsage();
    expect((await w.view(w.stranger)).status).toBe(404);
    expect((await w.view(w.contributor)).status).toBe(404);
    expect((await w.payer.request("/v1/usage/chatcmpl-nope")).status).toBe(404);
    expect((await w.view(w.owner)).status).toBe(200);
  });
});
