import type { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import { authorizePayment, completePayment, type CallOutcome } from "../payments/paid-calls.ts";
import { readLedger } from "../payments/channel-ledger.ts";
import { openChannel, paymentHeader, paymentsDeps } from "../../test/fakes/payments.ts";
import { assignCall } from "./assign-call.ts";
import { rewardKey } from "./keys.ts";
import { getSettlement, settleClosedPeriods, type SettlementDeps } from "./settle-period.ts";
import { FakeSettlementChain } from "../../test/fakes/settlement-chain.ts";

const PRICE = { perCall: "1000", perThousandOutputTokens: "20000" };
const OWNER = "0x00000000000000000000000000000000000000A1";
const C1 = "0x00000000000000000000000000000000000000c1";
const C2 = "0x00000000000000000000000000000000000000C2";
const SHARES = { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 };

async function world() {
  const p = paymentsDeps();
  const main = new SqliteTableStore(p.db, "main", { stream: true });
  const chain = new FakeSettlementChain();
  const deps: SettlementDeps = { usage: p.usage, main, blobs: new MemoryBlobStore(), clock: p.clock, chain, epochSeconds: 60, graceSeconds: 5 };
  const outcome = (tokens: number): CallOutcome => ({ adapterId: "ad_1", baseModel: "tiny", owner: OWNER, promptTokens: 5, completionTokens: tokens, finishReason: "stop", attribution: { method: "static", contributors: [{ address: C1, weightBps: 6000 }, { address: C2, weightBps: 4000 }] } });
  /** A paid call on a fresh or given channel, recorded and assigned as record-usage would. */
  async function paidCall(requestId: string, channel: Awaited<ReturnType<typeof openChannel>>, tokens: number) {
    const ledger = await readLedger(p.usage, channel.channel.channelId);
    const { header } = await paymentHeader(channel.payer, channel.channel, ledger.charged + 2280n, p.clock.now());
    const d = await authorizePayment(p.deps, { requestId, price: PRICE, maxTokens: 64, resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" }, paymentHeader: header });
    if (!d.ok) throw new Error(d.reason);
    const { record } = await completePayment(p.deps, d.grant, outcome(tokens));
    await assignCall({ usage: p.usage, clock: p.clock, epochSeconds: 60, shares: SHARES }, record);
    return record;
  }
  return { ...p, deps, chain, main, paidCall };
}

const r1period = (item: Record<string, unknown> | undefined) => item!.period as number;

/** Types of the domain events in the main table (events have one partition each, so read them with SQL). */
function allEvents(db: DatabaseSync): string[] {
  return (db.prepare("SELECT data FROM items_main WHERE pk LIKE 'EVENT#%'").all() as { data: string }[]).map((r) => JSON.parse(r.data).type as string);
}

describe("settleClosedPeriods", () => {
  it("redeems once per channel, publishes one root, stores proofs and announces it", async () => {
    const w = await world();
    const a = await openChannel(w.deps as never, 1_000_000n);
    const b = await openChannel(w.deps as never, 1_000_000n);
    await w.paidCall("r1", a, 10); // 1200
    await w.paidCall("r2", a, 20); // 1400
    await w.paidCall("r3", b, 0); // 1000
    w.clock.advance(70_000);

    const result = await settleClosedPeriods(w.deps);

    expect(result.settled).toHaveLength(1);
    expect(result.settled[0]).toMatchObject({ epoch: 1, fees: "3600", calls: 3 });
    expect(w.chain.redeemTxs).toBe(1);
    expect(w.chain.redeemed.get(a.channel.channelId)).toBe(2600n);
    expect(w.chain.redeemed.get(b.channel.channelId)).toBe(1000n);
    expect(w.chain.epochs).toHaveLength(1);
    // owner: 20 % of 3600 = 720; contributors 70 % split 60/40: 1512 / 1008; platform 360 all paid directly.
    const period = (await w.usage.get({ pk: "CALLREF#r1", sk: "CALL" }))!.period as number;
    const reward = await w.usage.get(rewardKey(OWNER, period));
    expect(reward).toMatchObject({ epoch: 1, amount: "720", root: w.chain.epochs[0]!.root });
    expect((await w.usage.get(rewardKey(C1, period)))?.amount).toBe("1512");
    expect((await w.usage.get(rewardKey(C2, period)))?.amount).toBe("1008");
    // The webhooks' events: usage.settled for each payer, epoch.published, rewards.available for each account.
    const events = allEvents(w.db);
    expect(events.filter((t) => t === "usage.settled")).toHaveLength(2);
    expect(events.filter((t) => t === "epoch.published")).toHaveLength(1);
    expect(events.filter((t) => t === "rewards.available")).toHaveLength(3);
  });

  for (const crashAt of ["redeem", "publish"] as const) {
    it(`is crash-safe: killed right after the ${crashAt} broadcast and run again, it redeems once and publishes one root`, async () => {
      const w = await world();
      const a = await openChannel(w.deps as never, 1_000_000n);
      await w.paidCall("r1", a, 10);
      await w.paidCall("r2", a, 30);
      w.clock.advance(70_000);
      w.chain.crashAfter = crashAt;
      await expect(settleClosedPeriods({ ...w.deps, holder: "first" })).rejects.toThrow(/crash/);
      // The lease of the crashed run runs out; a new run resumes.
      w.clock.advance(6 * 60_000);
      const again = await settleClosedPeriods({ ...w.deps, holder: "second" });
      expect(again.settled).toHaveLength(1);
      expect(w.chain.redeemTxs).toBe(1);
      expect(w.chain.publishTxs).toBe(1);
      expect(w.chain.epochs).toHaveLength(1);
      expect((await getSettlement(w.usage, r1period(await w.usage.get({ pk: "CALLREF#r1", sk: "CALL" }))))?.phase).toBe("done");
      expect(allEvents(w.db).filter((t) => t === "epoch.published")).toHaveLength(1);
      // And a third run finds nothing left to do.
      expect((await settleClosedPeriods(w.deps)).settled).toHaveLength(0);
      expect(w.chain.redeemTxs + w.chain.publishTxs).toBe(2);
    });
  }

  it("waits out a chain that is down, losing nothing", async () => {
    const w = await world();
    const a = await openChannel(w.deps as never, 1_000_000n);
    await w.paidCall("r1", a, 10);
    w.clock.advance(70_000);
    w.chain.down = true;
    expect((await settleClosedPeriods(w.deps)).stopped).toBe("chain-unavailable");
    w.chain.down = false;
    const r = await settleClosedPeriods(w.deps);
    expect(r.settled[0]).toMatchObject({ epoch: 1, fees: "1200" });
  });

  it("counts a usage record delivered twice once, and settles one that arrives after its period froze with the next", async () => {
    const w = await world();
    const a = await openChannel(w.deps as never, 1_000_000n);
    const r1 = await w.paidCall("r1", a, 10);
    expect(await assignCall({ usage: w.usage, clock: w.clock, epochSeconds: 60, shares: SHARES }, r1)).toMatchObject({ duplicate: true, period: r1.period });
    const late = await w.paidCall("r2", a, 10);
    // Freeze period 0 as settlement would, then deliver r2's record again as if it were late: it was assigned already.
    w.clock.advance(70_000);
    const r = await settleClosedPeriods(w.deps);
    expect(r.settled[0]).toMatchObject({ fees: "2400", calls: 2 });
    expect(await assignCall({ usage: w.usage, clock: w.clock, epochSeconds: 60, shares: SHARES }, late)).toMatchObject({ duplicate: true });
  });

  it("redeems a batch bigger than one transaction in parts", async () => {
    const w = await world();
    const channels = [];
    for (let i = 0; i < 3; i++) channels.push(await openChannel(w.deps as never, 1_000_000n));
    for (const [i, c] of channels.entries()) await w.paidCall(`r${i}`, c, 10);
    w.clock.advance(70_000);
    const r = await settleClosedPeriods({ ...w.deps, maxRedemptionsPerTx: 2 });
    expect(r.settled[0]).toMatchObject({ fees: "3600", calls: 3 });
    expect(w.chain.redeemTxs).toBe(2);
    expect(w.chain.publishTxs).toBe(1);
  });

  it("skips a channel the escrow refuses: its calls are not paid out, the rest are, and the channel is no longer served", async () => {
    const w = await world();
    const a = await openChannel(w.deps as never, 1_000_000n);
    const b = await openChannel(w.deps as never, 1_000_000n);
    await w.paidCall("r1", a, 10);
    await w.paidCall("r2", b, 10);
    w.chain.refuse.add(b.channel.channelId);
    w.clock.advance(70_000);
    const r = await settleClosedPeriods(w.deps);
    expect(r.settled[0]).toMatchObject({ fees: "1200", calls: 1 });
    expect((await readLedger(w.usage, b.channel.channelId)).defaulted).toBe(true);
    expect(w.chain.epochs[0]!.fees).toBe(1200n);
  });
});
