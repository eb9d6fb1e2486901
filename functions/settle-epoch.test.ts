import { describe, expect, it } from "vitest";
import { FakeSettlementChain } from "../test/fakes/settlement-chain.ts";
import { MemoryBlobStore } from "../test/fakes/memory-blob-store.ts";
import { openChannel, paymentHeader, paymentsDeps } from "../test/fakes/payments.ts";
import { applyEscrowEvent } from "../core/payments/mirror-channels.ts";
import { authorizePayment, completePayment } from "../core/payments/paid-calls.ts";
import type { SettlementDeps } from "../core/settlement/index.ts";
import { REDEEM_CLOSING_TASK } from "./handlers/settlement-tasks.ts";
import { scheduledEvent } from "./handlers/job-sweep.ts";
import { testContext } from "./handlers/test-events.ts";
import { createSettlementEntry, earlyRedeemHorizonSeconds } from "./settle-epoch.ts";

const PRICE = { perCall: "1000", perThousandOutputTokens: "20000" };

/** One call charged (1000 + 8 tokens × 20 = 1160) on a channel whose payer asked to withdraw `inSeconds` from now. */
async function closingChannel(inSeconds: number) {
  const t = paymentsDeps();
  const { payer, channel } = await openChannel(t.deps, 1_000_000n);
  const { header } = await paymentHeader(payer, channel, 2280n, t.clock.now());
  const d = await authorizePayment(t.deps, { requestId: "r1", price: PRICE, maxTokens: 64, resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" }, paymentHeader: header });
  if (!d.ok) throw new Error(d.reason);
  await completePayment(t.deps, d.grant, { adapterId: "ad_1", baseModel: "tiny", owner: null, promptTokens: 4, completionTokens: 8, finishReason: "stop", attribution: { method: "none", contributors: [] } });
  const withdrawableAt = Math.floor(t.clock.now() / 1000) + inSeconds;
  await applyEscrowEvent(t.usage, { block: 2, logIndex: 0, channelId: channel.channelId, type: "withdrawal-requested", amount: 1_000_000n, withdrawableAt } as never);
  const chain = new FakeSettlementChain();
  const deps: SettlementDeps = { usage: t.usage, main: t.usage, blobs: new MemoryBlobStore(), clock: t.clock, chain: chain as never, epochSeconds: 3600, graceSeconds: 60 };
  return { deps, chain, channel };
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
