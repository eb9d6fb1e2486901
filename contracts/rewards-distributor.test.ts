import { Contract, id, type HDNodeWallet } from "ethers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildRewardsTree } from "../adapters/chain/rewards-tree.ts";
import { redeemArg, signVoucher, voucherDomain } from "../adapters/chain/voucher.ts";
import { increaseTime } from "../adapters/chain/edr.ts";
import { DEFAULT_CLAIM_WINDOW_SECONDS, OPERATOR_ROLE } from "./deploy.ts";
import { deployFixture, eventsOf, mined, revertOf, type Fixture } from "./test-fixture.ts";

const WINDOW = DEFAULT_CLAIM_WINDOW_SECONDS;
let f: Fixture;
let snap: string;
let admin: HDNodeWallet, service: HDNodeWallet, payer: HDNodeWallet, c1: HDNodeWallet, c2: HDNodeWallet, adapterOwner: HDNodeWallet, stranger: HDNodeWallet;
let rewards: Contract, token: Contract, escrow: Contract;

beforeAll(async () => {
  f = await deployFixture();
  [admin, service, payer, c1, c2, adapterOwner, stranger] = f.chain.wallets as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  rewards = f.contract("RewardsDistributor");
  token = f.contract("TestToken");
  escrow = f.contract("PaymentEscrow", service);
  snap = await f.snapshot();
});
afterAll(() => f.close());
beforeEach(async () => {
  await f.revert(snap);
  snap = await f.snapshot();
});

/** The fee path: a payer's voucher redeemed by the service straight into the distributor. */
let channels = 0;
async function redeemFeesIntoDistributor(fees: bigint) {
  const salt = id(`channel-${++channels}`);
  await mined(token.mint!(payer.address, fees));
  await mined(f.contract("TestToken", payer).approve!(f.addresses.paymentEscrow, fees));
  const channelId: string = await escrow.channelIdOf!(payer.address, service.address, salt);
  await mined(f.contract("PaymentEscrow", payer).open!(service.address, payer.address, salt, fees));
  const expiry = (await f.chain.provider.getBlock("latest"))!.timestamp + 600;
  const v = await signVoucher(payer, voucherDomain(f.chain.chainId, f.addresses.paymentEscrow), { channelId, payer: payer.address, service: service.address, cumulativeAmount: fees, expiry });
  await mined(escrow.redeem!([redeemArg(v, fees)], f.addresses.rewardsDistributor));
}

/** Fees of 10 000 split 70/20/10: contributors 7 000 (4 000 + 3 000), owner 2 000, platform 1 000. */
const epochTree = () =>
  buildRewardsTree([
    { account: c1.address, amount: 4000n },
    { account: c2.address, amount: 3000n },
    { account: adapterOwner.address, amount: 2000n },
  ]);

describe("publishEpoch", () => {
  it("allocates redeemed fees to a root and pays the platform's share to the treasury", async () => {
    await redeemFeesIntoDistributor(10_000n);
    expect(await rewards.unallocated!()).toBe(10_000n);
    expect([...(await rewards.splitFees!(10_000n))]).toEqual([7000n, 2000n, 1000n]);
    const treasuryBefore: bigint = await token.balanceOf!(admin.address);
    const tree = epochTree();
    const receipt = await mined(rewards.publishEpoch!(1, tree.root, 10_000n));
    expect(eventsOf(receipt, rewards, "EpochPublished")).toEqual([[1n, tree.root, 10_000n, 7000n, 2000n, 1000n]]);
    expect((await token.balanceOf!(admin.address)) - treasuryBefore).toBe(1000n);
    const e = await rewards.getEpoch!(1);
    expect([e.root, e.total, e.claimed]).toEqual([tree.root, tree.total, 0n]);
    expect([await rewards.allocated!(), await rewards.unallocated!(), await rewards.epochCount!()]).toEqual([9000n, 0n, 1n]);
  });

  it("refuses an account without the operator role", async () => {
    await redeemFeesIntoDistributor(10_000n);
    expect(await revertOf(f.contract("RewardsDistributor", stranger).publishEpoch!(1, epochTree().root, 10_000n), rewards)).toEqual({
      name: "AccessControlUnauthorizedAccount",
      args: [stranger.address, OPERATOR_ROLE],
    });
  });

  it("refuses more fees than are unallocated, a replayed epoch number and an empty root", async () => {
    await redeemFeesIntoDistributor(10_000n);
    expect(await revertOf(rewards.publishEpoch!(1, epochTree().root, 10_001n), rewards)).toEqual({
      name: "RewardsDistributorInsufficientFunds",
      args: [10_001n, 10_000n],
    });
    await mined(rewards.publishEpoch!(1, epochTree().root, 10_000n));
    expect(await revertOf(rewards.publishEpoch!(1, epochTree().root, 0n), rewards)).toEqual({ name: "RewardsDistributorBadEpoch", args: [1n, 2n] });
    expect((await revertOf(rewards.publishEpoch!(2, "0x" + "00".repeat(32), 0n), rewards)).name).toBe("RewardsDistributorEmptyRoot");
  });
});

describe("claim", () => {
  beforeEach(async () => {
    await redeemFeesIntoDistributor(10_000n);
    await mined(rewards.publishEpoch!(1, epochTree().root, 10_000n));
  });

  it("pays each account its amount with a proof, submitted by anyone", async () => {
    const tree = epochTree();
    for (const w of [c1, c2, adapterOwner]) {
      const { amount, proof } = tree.claims.get(w.address)!;
      const receipt = await mined(f.contract("RewardsDistributor", stranger).claim!(1, w.address, amount, proof));
      expect(eventsOf(receipt, rewards, "Claimed")).toEqual([[1n, w.address, amount]]);
      expect(await token.balanceOf!(w.address)).toBe(amount);
      expect(await rewards.isClaimed!(1, w.address)).toBe(true);
    }
    expect([await rewards.allocated!(), (await rewards.getEpoch!(1)).claimed]).toEqual([0n, 9000n]);
    expect(await token.balanceOf!(f.addresses.rewardsDistributor)).toBe(0n);
  });

  it("refuses a double claim", async () => {
    const { amount, proof } = epochTree().claims.get(c1.address)!;
    await mined(rewards.claim!(1, c1.address, amount, proof));
    expect(await revertOf(rewards.claim!(1, c1.address, amount, proof), rewards)).toEqual({
      name: "RewardsDistributorAlreadyClaimed",
      args: [1n, c1.address],
    });
    expect(await token.balanceOf!(c1.address)).toBe(amount);
  });

  it("refuses an invalid proof: another account's, or a raised amount", async () => {
    const { amount, proof } = epochTree().claims.get(c1.address)!;
    expect(await revertOf(rewards.claim!(1, stranger.address, amount, proof), rewards)).toEqual({
      name: "RewardsDistributorInvalidProof",
      args: [1n, stranger.address],
    });
    expect((await revertOf(rewards.claim!(1, c1.address, amount + 1n, proof), rewards)).name).toBe("RewardsDistributorInvalidProof");
  });

  it("refuses an unknown epoch", async () => {
    const { amount, proof } = epochTree().claims.get(c1.address)!;
    expect(await revertOf(rewards.claim!(2, c1.address, amount, proof), rewards)).toEqual({ name: "RewardsDistributorUnknownEpoch", args: [2n] });
  });

  it("caps an epoch at its allocation even when its root promises more", async () => {
    await redeemFeesIntoDistributor(1000n);
    const greedy = buildRewardsTree([{ account: c1.address, amount: 5000n }, { account: c2.address, amount: 1n }]);
    await mined(rewards.publishEpoch!(2, greedy.root, 1000n)); // allocates 900
    const { amount, proof } = greedy.claims.get(c1.address)!;
    expect(await revertOf(rewards.claim!(2, c1.address, amount, proof), rewards)).toEqual({ name: "RewardsDistributorEpochOverdrawn", args: [2n] });
  });

  it("claims several epochs at once", async () => {
    await redeemFeesIntoDistributor(1000n);
    const second = buildRewardsTree([{ account: c1.address, amount: 900n }]);
    await mined(rewards.publishEpoch!(2, second.root, 1000n));
    const first = epochTree().claims.get(c1.address)!;
    const next = second.claims.get(c1.address)!;
    await mined(rewards.claimMany!([1, 2], c1.address, [first.amount, next.amount], [first.proof, next.proof]));
    expect(await token.balanceOf!(c1.address)).toBe(4900n);
  });
});

describe("recoverEpoch", () => {
  beforeEach(async () => {
    await redeemFeesIntoDistributor(10_000n);
  });
  const operator = () => rewards;

  it("recovers what a root below its allocation strands, after the claim window, for a corrected epoch", async () => {
    // The root pays 6 000 of the 9 000 allocated: 3 000 could never be claimed.
    const short = buildRewardsTree([{ account: c1.address, amount: 4000n }, { account: c2.address, amount: 2000n }]);
    const published = await mined(rewards.publishEpoch!(1, short.root, 10_000n));
    const publishedAt = BigInt((await f.chain.provider.getBlock(published.blockNumber))!.timestamp);
    for (const w of [c1, c2]) await mined(rewards.claim!(1, w.address, short.claims.get(w.address)!.amount, short.claims.get(w.address)!.proof));
    expect(await revertOf(operator().recoverEpoch!(1), rewards)).toEqual({ name: "RewardsDistributorClaimWindowOpen", args: [1n, publishedAt + BigInt(WINDOW)] });

    await increaseTime(f.chain.provider, WINDOW);
    const receipt = await mined(operator().recoverEpoch!(1));
    expect(eventsOf(receipt, rewards, "EpochRecovered")).toEqual([[1n, 3000n]]);
    expect([await rewards.allocated!(), await rewards.unallocated!()]).toEqual([0n, 3000n]);
    expect((await rewards.getEpoch!(1)).closed).toBe(true);
    // The 3 000 go to the adapter owner the bad root left out, in epoch 2 (contributors' and owners' share only: no second platform cut).
    await mined(rewards.setShares!({ contributorsBps: 0, ownersBps: 10_000, platformBps: 0 }));
    const fix = buildRewardsTree([{ account: adapterOwner.address, amount: 3000n }]);
    await mined(rewards.publishEpoch!(2, fix.root, 3000n));
    await mined(rewards.claim!(2, adapterOwner.address, 3000n, fix.claims.get(adapterOwner.address)!.proof));
    expect(await token.balanceOf!(adapterOwner.address)).toBe(3000n);
    expect(await token.balanceOf!(f.addresses.rewardsDistributor)).toBe(0n);
  });

  it("recovers the rest of an over-allocated root whose claims hit the cap, and closes it to further claims", async () => {
    const greedy = buildRewardsTree([{ account: c1.address, amount: 8000n }, { account: c2.address, amount: 5000n }]);
    await mined(rewards.publishEpoch!(1, greedy.root, 10_000n)); // allocates 9 000, the root promises 13 000
    await mined(rewards.claim!(1, c1.address, 8000n, greedy.claims.get(c1.address)!.proof));
    expect((await revertOf(rewards.claim!(1, c2.address, 5000n, greedy.claims.get(c2.address)!.proof), rewards)).name).toBe("RewardsDistributorEpochOverdrawn");
    await increaseTime(f.chain.provider, WINDOW);
    expect(eventsOf(await mined(operator().recoverEpoch!(1)), rewards, "EpochRecovered")).toEqual([[1n, 1000n]]);
    expect(await rewards.unallocated!()).toBe(1000n);
    expect(await revertOf(rewards.claim!(1, c2.address, 5000n, greedy.claims.get(c2.address)!.proof), rewards)).toEqual({ name: "RewardsDistributorEpochClosed", args: [1n] });
    expect(await revertOf(operator().recoverEpoch!(1), rewards)).toEqual({ name: "RewardsDistributorEpochClosed", args: [1n] });
  });

  it("refuses anyone but an operator, and an unknown epoch", async () => {
    await mined(rewards.publishEpoch!(1, epochTree().root, 10_000n));
    await increaseTime(f.chain.provider, WINDOW);
    expect(await revertOf(f.contract("RewardsDistributor", stranger).recoverEpoch!(1), rewards)).toEqual({
      name: "AccessControlUnauthorizedAccount",
      args: [stranger.address, OPERATOR_ROLE],
    });
    expect(await revertOf(operator().recoverEpoch!(7), rewards)).toEqual({ name: "RewardsDistributorUnknownEpoch", args: [7n] });
  });

  it("bounds the claim window to 7 days – 10 years at deploy", async () => {
    const args = [admin.address, f.addresses.token, admin.address, { contributorsBps: 10000, ownersBps: 0, platformBps: 0 }] as const;
    for (const bad of [7 * 86_400 - 1, 3650 * 86_400 + 1]) {
      expect((await revertOf(f.deploy("RewardsDistributor", admin, ...args, bad), rewards)).name).toBe("RewardsDistributorBadClaimWindow");
    }
    expect(await (await f.deploy("RewardsDistributor", admin, ...args, 7 * 86_400)).claimWindow!()).toBe(604_800n);
  });
});

describe("configuration", () => {
  it("lets the admin change shares and treasury, and refuses shares not adding up to 100%", async () => {
    await mined(rewards.setShares!({ contributorsBps: 6000, ownersBps: 3000, platformBps: 1000 }));
    expect([...(await rewards.splitFees!(1000n))]).toEqual([600n, 300n, 100n]);
    expect((await revertOf(rewards.setShares!({ contributorsBps: 6000, ownersBps: 3000, platformBps: 1001 }), rewards)).name).toBe("RewardsDistributorBadShares");
    await mined(rewards.setTreasury!(stranger.address));
    expect(await rewards.treasury!()).toBe(stranger.address);
    expect((await revertOf(f.contract("RewardsDistributor", stranger).setTreasury!(stranger.address), rewards)).name).toBe("AccessControlUnauthorizedAccount");
  });
});

describe("reentrancy", () => {
  it("refuses a second claim attempted from a malicious token's transfer hook", async () => {
    const hook = await f.deploy("HookToken", admin);
    const d = await f.deploy("RewardsDistributor", admin, admin.address, await hook.getAddress(), admin.address, { contributorsBps: 10000, ownersBps: 0, platformBps: 0 }, WINDOW);
    await mined(d.grantRole!(OPERATOR_ROLE, admin.address));
    await mined(hook.mint!(await d.getAddress(), 20_000n)); // 9 000 for this epoch, the rest the prize
    const tree = epochTree();
    await mined(d.publishEpoch!(1, tree.root, tree.total));
    const { amount, proof } = tree.claims.get(c1.address)!;
    await mined(hook.setHook!(await d.getAddress(), d.interface.encodeFunctionData("claim", [1, c1.address, amount, proof])));

    await mined(d.claim!(1, c1.address, amount, proof));

    expect(await hook.lastHookOk!()).toBe(false);
    expect(d.interface.parseError(await hook.lastHookReturn!())?.name).toBe("ReentrancyGuardReentrantCall");
    expect(await hook.balanceOf!(c1.address)).toBe(amount);
    expect(await hook.balanceOf!(await d.getAddress())).toBe(20_000n - amount);
  });
});
