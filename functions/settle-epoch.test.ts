import { describe, expect, it } from "vitest";
import { FakeSettlementChain } from "../test/fakes/settlement-chain.ts";
import { MemoryBlobStore } from "../test/fakes/memory-blob-store.ts";
import { chargedChannel } from "../test/fakes/payments.ts";
import type { SettlementDeps } from "../core/settlement/index.ts";
import { REDEEM_CLOSING_TASK } from "./handlers/settlement-tasks.ts";
import { scheduledEvent } from "./handlers/job-sweep.ts";
import { testContext } from "./handlers/test-events.ts";
import { createSettlementEntry, earlyRedeemHorizonSeconds } from "./settle-epoch.ts";

/** One call charged (1160) on a channel whose payer asked to withdraw `inSeconds` from now. */
async function closingChannel(inSeconds: number) {
  const t = await chargedChannel();
  await t.event({ type: "withdrawal-requested", amount: 1_000_000n, withdrawableAt: Math.floor(t.clock.now() / 1000) + inSeconds });
  const chain = new FakeSettlementChain();
  const deps: SettlementDeps = { usage: t.usage, main: t.usage, blobs: new MemoryBlobStore(), clock: t.clock, chain: chain as never, epochSeconds: 3600, graceSeconds: 60 };
  return { deps, chain, channel: t.channel };
}

const redeemEvent = (time: number) => ({ ...scheduledEvent(time), detail: { task: REDEEM_CLOSING_TASK } });

describe("the settle-epoch Lambda entry (settlement and early redemption share the settlement key)", () => {
  it("on the every-minute task redeems a channel whose withdrawal ripens before the next settlement, and only that", async () => {
    // Prepare: hourly epochs, a withdrawal possible in 15 minutes (the escrow's shortest delay)
    const { deps, chain, channel } = await closingChannel(15 * 60);
    expect(earlyRedeemHorizonSeconds(deps)).toBe(3600 + 60 + 60);
    const entry = createSettlementEntry(async () => deps);

    // Act
    const result = (await entry(redeemEvent(deps.clock.now()), testContext())) as { redeemed: { channelId: string; upTo: bigint }[] };

    // Assess: redeemed up to what was charged, before the hourly settlement could
    expect(result.redeemed.map((r) => [r.channelId, r.upTo])).toEqual([[channel.channelId, 1160n]]);
    expect(chain.redeemed.get(channel.channelId)).toBe(1160n);
  });

  it("leaves a channel whose withdrawal is beyond the next settlement to settlement", async () => {
    const { deps, chain } = await closingChannel(2 * 86_400);
    const result = (await createSettlementEntry(async () => deps)(redeemEvent(deps.clock.now()), testContext())) as { redeemed: unknown[] };
    expect(result.redeemed).toEqual([]);
    expect(chain.redeemTxs).toBe(0);
  });

  it("runs settlement, not early redemption, on the epoch schedule's plain events", async () => {
    const { deps, chain } = await closingChannel(15 * 60);
    const result = (await createSettlementEntry(async () => deps)(scheduledEvent(deps.clock.now()), testContext())) as Record<string, unknown>;
    expect(result).toHaveProperty("settled");
    expect(result).not.toHaveProperty("redeemed");
    expect(chain.redeemTxs).toBe(0); // the period is still open: nothing to settle yet
  });
});
