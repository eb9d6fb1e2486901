import { describe, expect, it } from "vitest";
import { FakeSettlementChain } from "../../test/fakes/settlement-chain.ts";
import { chargedChannel as chargedChannelFixture, openChannel, paymentsDeps } from "../../test/fakes/payments.ts";
import { queryAll } from "../query-all.ts";
import { readLedger } from "./channel-ledger.ts";
import { redeemClosingChannels } from "./early-redeem.ts";
import { CLOSING_PK } from "./keys.ts";
import { applyEscrowEvent } from "./mirror-channels.ts";

const HORIZON = 130; // epoch 60 s + grace 10 s + a minute for the transaction

/** A channel with one call charged on it (1000 + 8 tokens × 20 = 1160), and a fake chain to redeem on. */
async function chargedChannel() {
  const t = await chargedChannelFixture();
  const chain = new FakeSettlementChain();
  return { ...t, chain, deps: { usage: t.usage, chain, clock: t.clock, horizonSeconds: HORIZON } };
}

const nowS = (clock: { now(): number }) => Math.floor(clock.now() / 1000);

describe("redeemClosingChannels", () => {
  it("redeems what was charged on a channel whose withdrawal comes before the next settlement, once", async () => {
    // Prepare
    const { deps, chain, channel, clock, usage, event } = await chargedChannel();
    expect((await readLedger(usage, channel.channelId)).charged).toBe(1160n);
    await event({ type: "withdrawal-requested", amount: 1_000_000n, withdrawableAt: nowS(clock) + 60 });

    // Act
    const sent = await redeemClosingChannels(deps);

    // Assess: redeemed up to the charge (not the voucher's 2280 maximum), in one transaction
    expect(sent).toEqual([{ channelId: channel.channelId, upTo: 1160n, availableAt: nowS(clock) + 60 }]);
    expect(chain.redeemed.get(channel.channelId)).toBe(1160n);
    expect(chain.redeemTxs).toBe(1);
    // The chain already has it (the mirror may not yet): a second run sends nothing.
    expect(await redeemClosingChannels(deps)).toEqual([]);
    expect(chain.redeemTxs).toBe(1);
  });

  it("leaves a channel alone while its withdrawal is beyond the horizon, and redeems it once the horizon reaches it", async () => {
    const { deps, chain, channel, clock, event } = await chargedChannel();
    await event({ type: "withdrawal-requested", amount: 500_000n, withdrawableAt: nowS(clock) + 15 * 60 });
    expect(await redeemClosingChannels(deps)).toEqual([]);
    clock.advance((15 * 60 - HORIZON + 1) * 1000);
    expect((await redeemClosingChannels(deps)).map((r) => r.upTo)).toEqual([1160n]);
    expect(chain.redeemed.get(channel.channelId)).toBe(1160n);
  });

  it("forgets a withdrawal that was cancelled or carried out, and one replaced by a later request", async () => {
    const { deps, chain, channel, clock, usage, event } = await chargedChannel();
    const markers = async () => {
      const at: unknown[] = [];
      for await (const m of queryAll(usage, { pk: CLOSING_PK })) at.push(m.availableAt);
      return at;
    };
    await event({ type: "withdrawal-requested", amount: 1n, withdrawableAt: nowS(clock) + 60 });
    // A new request replaces the old one with a fresh delay: one marker, at the new time.
    await event({ type: "withdrawal-requested", amount: 1n, withdrawableAt: nowS(clock) + 3600 });
    expect(await markers()).toEqual([nowS(clock) + 3600]);
    await event({ type: "withdrawal-cancelled" });
    expect(await markers()).toEqual([]);
    clock.advance(3600_000);
    expect(await redeemClosingChannels(deps)).toEqual([]);
    expect(chain.redeemTxs).toBe(0);
    // Replaying the first request (already applied) changes nothing: no marker comes back.
    expect(await applyEscrowEvent(usage, { block: 2, logIndex: 0, channelId: channel.channelId, type: "withdrawal-requested", amount: 1n, withdrawableAt: nowS(clock) + 60 })).toBe(false);
    expect(await markers()).toEqual([]);
  });

  it("does nothing for a closing channel with nothing charged", async () => {
    const t = paymentsDeps();
    const { channel } = await openChannel(t.deps, 1_000_000n);
    await applyEscrowEvent(t.usage, { block: 2, logIndex: 0, channelId: channel.channelId, type: "withdrawal-requested", amount: 1_000_000n, withdrawableAt: nowS(t.clock) + 10 });
    const chain = new FakeSettlementChain();
    expect(await redeemClosingChannels({ usage: t.usage, chain, clock: t.clock, horizonSeconds: HORIZON })).toEqual([]);
    expect(chain.redeemTxs).toBe(0);
  });
});
