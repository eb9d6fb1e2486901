import { Contract, id, TypedDataEncoder, ZeroAddress, type HDNodeWallet, type TypedDataDomain } from "ethers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { increaseTime } from "../adapters/chain/edr.ts";
import { redeemArg, signVoucher, verifyVoucher, VOUCHER_TYPES, voucherDomain, voucherToJson, type SignedVoucher } from "../adapters/chain/voucher.ts";
import { deployFixture, eventsOf, mined, revertOf, type Fixture } from "./test-fixture.ts";

let f: Fixture;
let snap: string;
let service: HDNodeWallet, alice: HDNodeWallet, bob: HDNodeWallet, mallory: HDNodeWallet;
let escrow: Contract, token: Contract;
let domain: TypedDataDomain;

const DELAY = 3600; // the fixture's withdrawal delay
const salt = id("salt");

beforeAll(async () => {
  f = await deployFixture();
  [, service, alice, bob, mallory] = f.chain.wallets as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  escrow = f.contract("PaymentEscrow", service);
  token = f.contract("TestToken");
  domain = voucherDomain(f.chain.chainId, f.addresses.paymentEscrow);
  for (const w of [alice, bob, mallory]) {
    await mined(token.mint!(w.address, 1_000_000n));
    await mined(f.contract("TestToken", w).approve!(f.addresses.paymentEscrow, 2n ** 255n));
  }
  snap = await f.snapshot();
});
afterAll(() => f.close());
beforeEach(async () => {
  await f.revert(snap);
  snap = await f.snapshot();
});

const as = (w: HDNodeWallet) => f.contract("PaymentEscrow", w);
const now = async () => (await f.chain.provider.getBlock("latest"))!.timestamp;

async function openChannel(payer: HDNodeWallet, amount: bigint): Promise<string> {
  const channelId: string = await escrow.channelIdOf!(payer.address, service.address, salt);
  await mined(as(payer).open!(service.address, salt, amount));
  return channelId;
}

async function voucher(payer: HDNodeWallet, channelId: string, cumulativeAmount: bigint, expiresIn = 600): Promise<SignedVoucher> {
  return signVoucher(payer, domain, { channelId, payer: payer.address, service: service.address, cumulativeAmount, expiry: (await now()) + expiresIn });
}

describe("open and deposit", () => {
  it("opens a channel with a deposit and tops it up", async () => {
    const channelId = await escrow.channelIdOf!(alice.address, service.address, salt);
    const receipt = await mined(as(alice).open!(service.address, salt, 500n));
    expect(eventsOf(receipt, escrow, "ChannelOpened")).toEqual([[channelId, alice.address, service.address]]);
    expect(eventsOf(receipt, escrow, "Deposited")).toEqual([[channelId, alice.address, 500n, 500n]]);
    await mined(as(bob).deposit!(channelId, 250n)); // anyone may top up
    const c = await escrow.getChannel!(channelId);
    expect([c.payer, c.service, c.deposit, c.redeemed]).toEqual([alice.address, service.address, 750n, 0n]);
    expect(await token.balanceOf!(f.addresses.paymentEscrow)).toBe(750n);
  });

  it("refuses a second channel with the same payer, service and salt", async () => {
    const channelId = await openChannel(alice, 1n);
    expect(await revertOf(as(alice).open!(service.address, salt, 1n), escrow)).toEqual({ name: "PaymentEscrowChannelExists", args: [channelId] });
  });

  it("refuses deposits to an unknown channel and the zero service", async () => {
    expect((await revertOf(as(alice).deposit!(id("nope"), 1n), escrow)).name).toBe("PaymentEscrowUnknownChannel");
    expect((await revertOf(as(alice).open!(ZeroAddress, salt, 1n), escrow)).name).toBe("PaymentEscrowZeroAddress");
  });
});

describe("redeem", () => {
  let chA: string, chB: string;
  beforeEach(async () => {
    chA = await openChannel(alice, 1000n);
    chB = await openChannel(bob, 1000n);
  });

  it("redeems the latest vouchers of many payers in one transfer, then only the difference", async () => {
    const receipt = await mined(escrow.redeem!([redeemArg(await voucher(alice, chA, 100n)), redeemArg(await voucher(bob, chB, 300n))], service.address));
    expect(eventsOf(receipt, escrow, "BatchRedeemed")).toEqual([[service.address, service.address, 2n, 400n]]);
    expect(await token.balanceOf!(service.address)).toBe(400n);
    await mined(escrow.redeem!([redeemArg(await voucher(alice, chA, 160n))], service.address));
    expect(await token.balanceOf!(service.address)).toBe(460n);
    expect((await escrow.getChannel!(chA)).redeemed).toBe(160n);
  });

  it("agrees with the off-chain signer on the EIP-712 digest", async () => {
    const v = await voucher(alice, chA, 5n);
    const { voucher: unsigned } = redeemArg(v);
    expect(await escrow.hashVoucher!(unsigned)).toBe(TypedDataEncoder.hash(domain, VOUCHER_TYPES, unsigned));
    expect(verifyVoucher(domain, voucherToJson(v), { now: await now(), service: service.address, lastAmount: 0n, deposit: 1000n }).ok).toBe(true);
  });

  it("refuses a replayed voucher, and an older one", async () => {
    const v = await voucher(alice, chA, 100n);
    await mined(escrow.redeem!([redeemArg(v)], service.address));
    expect(await revertOf(escrow.redeem!([redeemArg(v)], service.address), escrow)).toEqual({
      name: "PaymentEscrowAlreadyRedeemed",
      args: [chA, 100n, 100n],
    });
    expect((await revertOf(escrow.redeem!([redeemArg(await voucher(alice, chA, 90n))], service.address), escrow)).name).toBe(
      "PaymentEscrowAlreadyRedeemed",
    );
    expect(await token.balanceOf!(service.address)).toBe(100n);
  });

  it("refuses the same voucher twice within one batch", async () => {
    const v = redeemArg(await voucher(alice, chA, 100n));
    expect((await revertOf(escrow.redeem!([v, v], service.address), escrow)).name).toBe("PaymentEscrowAlreadyRedeemed");
  });

  it("refuses a voucher above the deposit", async () => {
    expect(await revertOf(escrow.redeem!([redeemArg(await voucher(alice, chA, 1001n))], service.address), escrow)).toEqual({
      name: "PaymentEscrowAboveDeposit",
      args: [chA, 1001n, 1000n],
    });
  });

  it("refuses an expired voucher", async () => {
    const v = await voucher(alice, chA, 10n, 60);
    await increaseTime(f.chain.provider, 61);
    expect(await revertOf(escrow.redeem!([redeemArg(v)], service.address), escrow)).toEqual({
      name: "PaymentEscrowVoucherExpired",
      args: [chA, BigInt(v.expiry)],
    });
  });

  it("refuses a bad signature: signed by someone else, or the amount changed after signing", async () => {
    const forged = { ...(await voucher(alice, chA, 10n)), signature: (await signVoucher(mallory, domain, { channelId: chA, payer: mallory.address, service: service.address, cumulativeAmount: 10n, expiry: (await now()) + 60 })).signature };
    expect(await revertOf(escrow.redeem!([redeemArg(forged)], service.address), escrow)).toEqual({ name: "PaymentEscrowBadSignature", args: [chA] });
    const bumped = { ...(await voucher(alice, chA, 10n)), cumulativeAmount: 999n };
    expect((await revertOf(escrow.redeem!([redeemArg(bumped)], service.address), escrow)).name).toBe("PaymentEscrowBadSignature");
    expect(verifyVoucher(domain, voucherToJson(bumped), { now: await now() })).toMatchObject({ ok: false, reason: "voucher-bad-signature" });
  });

  it("refuses a caller that is not the voucher's service, and a voucher naming another payer", async () => {
    const v = redeemArg(await voucher(alice, chA, 10n));
    expect(await revertOf(as(mallory).redeem!([v], mallory.address), escrow)).toEqual({ name: "PaymentEscrowWrongService", args: [chA, mallory.address] });
    const crossed = redeemArg(await voucher(bob, chA, 10n)); // bob signs for alice's channel
    expect((await revertOf(escrow.redeem!([crossed], service.address), escrow)).name).toBe("PaymentEscrowVoucherMismatch");
  });

  it("reverts the whole batch when one voucher is bad", async () => {
    const good = redeemArg(await voucher(alice, chA, 10n));
    const bad = redeemArg(await voucher(bob, chB, 5000n));
    expect((await revertOf(escrow.redeem!([good, bad], service.address), escrow)).name).toBe("PaymentEscrowAboveDeposit");
    expect((await escrow.getChannel!(chA)).redeemed).toBe(0n);
  });
});

describe("withdraw", () => {
  let ch: string;
  beforeEach(async () => {
    ch = await openChannel(alice, 1000n);
  });

  it("pays back the unredeemed rest after the delay, while the service may still redeem during it", async () => {
    const before: bigint = await token.balanceOf!(alice.address);
    await mined(as(alice).requestWithdrawal!(ch));
    expect((await revertOf(as(alice).withdraw!(ch), escrow)).name).toBe("PaymentEscrowWithdrawalNotReady");
    await mined(escrow.redeem!([redeemArg(await voucher(alice, ch, 300n, 7200))], service.address));
    await increaseTime(f.chain.provider, DELAY);
    const receipt = await mined(as(alice).withdraw!(ch));
    expect(eventsOf(receipt, escrow, "Withdrawn")).toEqual([[ch, alice.address, 700n]]);
    expect((await token.balanceOf!(alice.address)) - before).toBe(700n);
    // Nothing is left: a later voucher is above the deposit.
    expect((await revertOf(escrow.redeem!([redeemArg(await voucher(alice, ch, 301n))], service.address), escrow)).name).toBe(
      "PaymentEscrowAboveDeposit",
    );
  });

  it("refuses a withdrawal without a request, and by anyone but the payer", async () => {
    expect((await revertOf(as(alice).withdraw!(ch), escrow)).name).toBe("PaymentEscrowNoWithdrawalRequested");
    expect(await revertOf(as(mallory).requestWithdrawal!(ch), escrow)).toEqual({ name: "PaymentEscrowNotPayer", args: [ch, mallory.address] });
    await mined(as(alice).requestWithdrawal!(ch));
    await increaseTime(f.chain.provider, DELAY);
    expect((await revertOf(as(mallory).withdraw!(ch), escrow)).name).toBe("PaymentEscrowNotPayer");
  });
});

describe("reentrancy", () => {
  it("refuses a second withdrawal attempted from a malicious token's transfer hook", async () => {
    const hook = await f.deploy("HookToken", service);
    const hookEscrow = await f.deploy("PaymentEscrow", service, await hook.getAddress(), DELAY);
    const attacker = await f.deploy("ReentrantPayer", service, await hookEscrow.getAddress());
    await mined(hook.mint!(await attacker.getAddress(), 1000n));
    // Another payer's money sits in the escrow too: the prize a double withdrawal would take.
    await mined(hook.mint!(bob.address, 5000n));
    await mined(f.contract("HookToken", bob, await hook.getAddress()).approve!(await hookEscrow.getAddress(), 5000n));
    await mined(f.contract("PaymentEscrow", bob, await hookEscrow.getAddress()).open!(service.address, salt, 5000n));
    await mined(attacker.open!(service.address, 1000n));
    await mined(attacker.requestWithdrawal!());
    await increaseTime(f.chain.provider, DELAY);
    await mined(hook.setHook!(await attacker.getAddress(), attacker.interface.encodeFunctionData("reenter")));

    await mined(attacker.withdraw!());

    expect(await hook.hookCalls!()).toBe(1n);
    expect(await hook.lastHookOk!()).toBe(false);
    expect(hookEscrow.interface.parseError(await hook.lastHookReturn!())?.name).toBe("ReentrancyGuardReentrantCall");
    expect(await hook.balanceOf!(await attacker.getAddress())).toBe(1000n); // paid once, not twice
    expect(await hook.balanceOf!(await hookEscrow.getAddress())).toBe(5000n);
  });
});
