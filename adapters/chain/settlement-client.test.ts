import { DatabaseSync } from "node:sqlite";
import { Contract, id } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifacts } from "../../contracts/artifacts/index.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";
import { ChannelLocks } from "../../core/payments/channel-lock.ts";
import { channelFromItem } from "../../core/payments/channel.ts";
import { channelStateKey } from "../../core/payments/keys.ts";
import { mirrorChannels } from "../../core/payments/mirror-channels.ts";
import { authorizePayment, completePayment, type PaymentsDeps } from "../../core/payments/paid-calls.ts";
import { readLedger } from "../../core/payments/channel-ledger.ts";
import { paymentHeader } from "../../test/fakes/payments.ts";
import { assignCall } from "../../core/settlement/assign-call.ts";
import { rewardKey } from "../../core/settlement/keys.ts";
import { settleClosedPeriods } from "../../core/settlement/settle-period.ts";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import { SqliteTableStore } from "../local/sqlite-table-store.ts";
import { EthersEscrowEvents } from "./escrow-events.ts";
import { startLocalChain, type LocalChain } from "./local-chain.ts";
import { EthersSettlementChain } from "./settlement-client.ts";
import { voucherSignerRecovery } from "./voucher-signer.ts";

let chain: LocalChain;
beforeAll(async () => {
  chain = await startLocalChain();
});
afterAll(() => chain.close());

describe("pay-per-call on the local chain", () => {
  it("mirrors a channel, charges calls, settles one epoch, and a contributor claims with the served proof once", async () => {
    // Prepare: a payer opens and funds a channel to the platform's service key.
    const [payer, owner, contributor] = chain.accounts as [(typeof chain.accounts)[0], (typeof chain.accounts)[0], (typeof chain.accounts)[0]];
    const service = chain.signer.address;
    const token = new Contract(chain.addresses.token, artifacts.TestToken.abi as never, payer);
    const escrow = new Contract(chain.addresses.paymentEscrow, artifacts.PaymentEscrow.abi as never, payer);
    await (await token.getFunction("approve")(chain.addresses.paymentEscrow, 1_000_000n)).wait();
    const salt = id("test-channel");
    await (await escrow.getFunction("open")(service, payer.address, salt, 1_000_000n)).wait();
    const channelId = (await escrow.getFunction("channelIdOf")(payer.address, service, salt)).toLowerCase();

    const db = new DatabaseSync(":memory:");
    const usage = new SqliteTableStore(db, "usage", { stream: true });
    const main = new SqliteTableStore(db, "main", { stream: true });
    const clock = new FakeClock(Date.now());
    const events = new EthersEscrowEvents(chain.provider, chain.addresses.paymentEscrow, chain.addresses.fromBlock);
    await mirrorChannels(usage, events);
    const mirrored = channelFromItem((await usage.get(channelStateKey(channelId)))!);
    expect(mirrored).toMatchObject({ payer: payer.address, signer: payer.address, service, deposit: 1_000_000n, redeemed: 0n });

    const terms = { chainId: 31337, escrow: chain.addresses.paymentEscrow, asset: chain.addresses.token, payTo: service, horizonSeconds: 120, maxTimeoutSeconds: 60 };
    const deps: PaymentsDeps = { usage, clock, terms, epochSeconds: 60, recoverSigner: voucherSignerRecovery(31337, chain.addresses.paymentEscrow), locks: new ChannelLocks() };
    const price = { perCall: "1000", perThousandOutputTokens: "20000" };
    const shares = { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 };
    for (const [i, tokens] of [10, 30].entries()) {
      const charged = (await readLedger(usage, channelId)).charged;
      const { header } = await paymentHeader(payer, mirrored, charged + 2280n, clock.now(), { escrow: chain.addresses.paymentEscrow });
      const d = await authorizePayment(deps, { requestId: `call-${i}`, price, maxTokens: 64, resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" }, paymentHeader: header });
      if (!d.ok) throw new Error(`${d.reason}: ${JSON.stringify(d.body.accepts[0]?.extra)}`);
      const { record } = await completePayment(deps, d.grant, {
        adapterId: "ad_1",
        baseModel: "tiny",
        owner: owner.address,
        promptTokens: 4,
        completionTokens: tokens,
        finishReason: "stop",
        attribution: { method: "static", contributors: [{ address: contributor.address, weightBps: 10_000 }] },
      });
      await assignCall({ usage, clock, epochSeconds: 60, shares }, record);
    }
    // 1200 + 1600 charged, 2 × 2280 authorised: only the charge is redeemed.

    // Act: settle once the period is over.
    clock.advance(70_000);
    const settlementChain = new EthersSettlementChain(chain.signer, chain.addresses);
    const result = await settleClosedPeriods({ usage, main, blobs: new MemoryBlobStore(), clock, chain: settlementChain, epochSeconds: 60, graceSeconds: 5 });

    // Assess: one epoch, the channel redeemed exactly what was charged, the mirror sees it.
    expect(result.settled).toEqual([expect.objectContaining({ epoch: 1, fees: "2800", calls: 2 })]);
    expect(await settlementChain.channelRedeemed(channelId)).toBe(2800n);
    await mirrorChannels(usage, events);
    expect(channelFromItem((await usage.get(channelStateKey(channelId)))!).redeemed).toBe(2800n);

    const period = (await usage.get({ pk: "CALLREF#call-0", sk: "CALL" }))!.period as number;
    const reward = (await usage.get(rewardKey(contributor.address, period)))!;
    expect(reward.amount).toBe("1960"); // 70 % of 2800
    const rewards = new Contract(chain.addresses.rewardsDistributor, artifacts.RewardsDistributor.abi as never, contributor);
    const before = (await token.getFunction("balanceOf")(contributor.address)) as bigint;
    await (await rewards.getFunction("claim")(reward.epoch, contributor.address, BigInt(reward.amount as string), reward.proof)).wait();
    expect((await token.getFunction("balanceOf")(contributor.address)) - before).toBe(1960n);
    expect(await settlementChain.isClaimed(1, contributor.address)).toBe(true);
    // A second claim with the same proof fails.
    await expect(rewards.getFunction("claim").staticCall(reward.epoch, contributor.address, BigInt(reward.amount as string), reward.proof)).rejects.toThrow();
    let reason = "";
    try {
      await rewards.getFunction("claim").staticCall(reward.epoch, contributor.address, BigInt(reward.amount as string), reward.proof);
    } catch (error) {
      reason = rewards.interface.parseError((error as { data: string }).data)?.name ?? "";
    }
    expect(reason).toBe("RewardsDistributorAlreadyClaimed");
  }, 60_000);
});
