import { Contract, id, TypedDataEncoder, Wallet, ZeroAddress, type HDNodeWallet, type TypedDataDomain } from "ethers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { increaseTime } from "../adapters/chain/edr.ts";
import { redeemArg, redemptionSkipReason, signVoucher, verifyVoucher, VOUCHER_TYPES, voucherDomain, voucherToJson, type SignedVoucher } from "../adapters/chain/voucher.ts";
import { deployFixture, eventsOf, mined, revertOf, type Fixture } from "./test-fixture.ts";

let f: Fixture;
let snap: string;
let service: HDNodeWallet, alice: HDNodeWallet, bob: HDNodeWallet, mallory: HDNodeWallet;
let escrow: Contract, token: Contract;
let domain: TypedDataDomain;

const DELAY = 3600; // the fixture's withdrawal delay
const salt = id("salt");
// Each payer's channel signing key: a plain key of its own, not the payer's address.
const keys = new Map<string, Wallet>();
const keyOf = (payer: HDNodeWallet) => keys.get(payer.address)!;

beforeAll(async () => {
  f = await deployFixture();
  [, service, alice, bob, mallory] = f.chain.wallets as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  escrow = f.contract("PaymentEscrow", service);
  token = f.contract("TestToken");
  domain = voucherDomain(f.chain.chainId, f.addresses.paymentEscrow);
  for (const w of [alice, bob, mallory]) {
    keys.set(w.address, new Wallet(id(`signing key of ${w.address}`)));
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

async function openChannel(payer: HDNodeWallet, amount: bigint, signer = keyOf(payer).address): Promise<string> {
  const channelId: string = await escrow.channelIdOf!(payer.address, service.address, salt);
  await mined(as(payer).open!(service.address, signer, salt, amount));
  return channelId;
}

/** A voucher for cumulative maximum `max`, signed by the payer's channel key (or `by`). */
async function voucher(payer: HDNodeWallet, channelId: string, max: bigint, expiresIn = 600, by: { signTypedData: Wallet["signTypedData"]; getAddress(): Promise<string> } = keyOf(payer)): Promise<SignedVoucher> {
  return signVoucher(by, domain, { channelId, payer: payer.address, service: service.address, cumulativeAmount: max, expiry: (await now()) + expiresIn });
}

const skips = (receipt: Awaited<ReturnType<typeof mined>>) =>
  eventsOf(receipt, escrow, "RedemptionSkipped").map(([channelId, index, reason]) => [channelId, Number(index), redemptionSkipReason(reason as bigint)]);

describe("deploy", () => {
  it("bounds the withdrawal delay to 15 minutes – 30 days", async () => {
    for (const bad of [0, 899, 30 * 86_400 + 1]) {
      expect(await revertOf(f.deploy("PaymentEscrow", service, f.addresses.token, bad), escrow)).toEqual({
        name: "PaymentEscrowBadWithdrawDelay",
        args: [BigInt(bad), 900n, 2_592_000n],
      });
    }
    for (const good of [900, 30 * 86_400]) {
      expect(await (await f.deploy("PaymentEscrow", service, f.addresses.token, good)).withdrawDelay!()).toBe(BigInt(good));
    }
  });
});

describe("open and deposit", () => {
  it("opens a channel committed to a signing key, with a deposit, and tops it up", async () => {
    const channelId = await escrow.channelIdOf!(alice.address, service.address, salt);
    const receipt = await mined(as(alice).open!(service.address, keyOf(alice).address, salt, 500n));
    expect(eventsOf(receipt, escrow, "ChannelOpened")).toEqual([[channelId, alice.address, service.address, keyOf(alice).address]]);
    expect(eventsOf(receipt, escrow, "Deposited")).toEqual([[channelId, alice.address, 500n, 500n]]);
    await mined(as(bob).deposit!(channelId, 250n)); // anyone may top up
    const c = await escrow.getChannel!(channelId);
    expect([c.payer, c.service, c.signer, c.deposit, c.redeemed]).toEqual([alice.address, service.address, keyOf(alice).address, 750n, 0n]);
    expect(await token.balanceOf!(f.addresses.paymentEscrow)).toBe(750n);
  });

  it("refuses a second channel with the same payer, service and salt", async () => {
    const channelId = await openChannel(alice, 1n);
    expect(await revertOf(as(alice).open!(service.address, keyOf(alice).address, salt, 1n), escrow)).toEqual({ name: "PaymentEscrowChannelExists", args: [channelId] });
  });

  it("refuses deposits to an unknown channel, the zero service and the zero signing key", async () => {
    expect((await revertOf(as(alice).deposit!(id("nope"), 1n), escrow)).name).toBe("PaymentEscrowUnknownChannel");
    expect((await revertOf(as(alice).open!(ZeroAddress, keyOf(alice).address, salt, 1n), escrow)).name).toBe("PaymentEscrowZeroAddress");
    expect((await revertOf(as(alice).open!(service.address, ZeroAddress, salt, 1n), escrow)).name).toBe("PaymentEscrowZeroAddress");
  });
});

describe("redeem (upto)", () => {
  let chA: string, chB: string;
  beforeEach(async () => {
    chA = await openChannel(alice, 1000n);
    chB = await openChannel(bob, 1000n);
  });

  it("redeems what was charged, not the signed maximum, for many payers in one transfer; then only the difference", async () => {
    const receipt = await mined(escrow.redeem!([redeemArg(await voucher(alice, chA, 500n), 120n), redeemArg(await voucher(bob, chB, 300n), 300n)], service.address));
    expect(eventsOf(receipt, escrow, "Redeemed")).toEqual([
      [chA, service.address, 120n, 120n, 120n],
      [chB, service.address, 300n, 300n, 300n],
    ]);
    expect(eventsOf(receipt, escrow, "BatchRedeemed")).toEqual([[service.address, service.address, 2n, 0n, 420n]]);
    expect(await token.balanceOf!(service.address)).toBe(420n);
    await mined(escrow.redeem!([redeemArg(await voucher(alice, chA, 800n), 300n)], service.address));
    expect(await token.balanceOf!(service.address)).toBe(600n);
    expect((await escrow.getChannel!(chA)).redeemed).toBe(300n);
  });

  it("agrees with the off-chain signer on the EIP-712 digest", async () => {
    const v = await voucher(alice, chA, 5n, 7200);
    const { voucher: unsigned } = redeemArg(v, 5n);
    expect(await escrow.hashVoucher!(unsigned)).toBe(TypedDataEncoder.hash(domain, VOUCHER_TYPES, unsigned));
    expect(verifyVoucher(domain, voucherToJson(v), { now: await now(), signer: keyOf(alice).address, service: service.address, lastAmount: 0n, deposit: 1000n, horizonSeconds: 3600 }).ok).toBe(true);
  });

  it("skips a re-submitted batch and an older voucher: nothing is paid twice", async () => {
    const batch = [redeemArg(await voucher(alice, chA, 100n), 100n)];
    await mined(escrow.redeem!(batch, service.address));
    const again = await mined(escrow.redeem!(batch, service.address));
    expect(skips(again)).toEqual([[chA, 0, "already-redeemed"]]);
    expect(eventsOf(again, escrow, "BatchRedeemed")).toEqual([[service.address, service.address, 0n, 1n, 0n]]);
    expect(skips(await mined(escrow.redeem!([redeemArg(await voucher(alice, chA, 90n), 90n)], service.address)))).toEqual([[chA, 0, "already-redeemed"]]);
    expect(await token.balanceOf!(service.address)).toBe(100n);
  });

  it("skips the same channel twice within one batch", async () => {
    const v = redeemArg(await voucher(alice, chA, 100n), 100n);
    const receipt = await mined(escrow.redeem!([v, v], service.address));
    expect(skips(receipt)).toEqual([[chA, 1, "already-redeemed"]]);
    expect(await token.balanceOf!(service.address)).toBe(100n);
  });

  it("skips a charge above the voucher's signed maximum", async () => {
    const v = await voucher(alice, chA, 100n);
    const tampered = { ...redeemArg(v, 100n), charged: 101n };
    expect(skips(await mined(escrow.redeem!([tampered], service.address)))).toEqual([[chA, 0, "charge-above-voucher"]]);
    expect((await escrow.getChannel!(chA)).redeemed).toBe(0n);
  });

  it("redeems up to the deposit when the charge is above it, and the rest after a top-up", async () => {
    const v = redeemArg(await voucher(alice, chA, 1500n, 7200), 1500n);
    const receipt = await mined(escrow.redeem!([v], service.address));
    expect(eventsOf(receipt, escrow, "Redeemed")).toEqual([[chA, service.address, 1500n, 1000n, 1000n]]);
    expect(skips(await mined(escrow.redeem!([v], service.address)))).toEqual([[chA, 0, "deposit-exhausted"]]);
    await mined(as(alice).deposit!(chA, 800n));
    await mined(escrow.redeem!([v], service.address));
    expect(await token.balanceOf!(service.address)).toBe(1500n);
    expect((await escrow.getChannel!(chA)).redeemed).toBe(1500n);
  });

  it("skips an expired voucher", async () => {
    const v = await voucher(alice, chA, 10n, 60);
    await increaseTime(f.chain.provider, 61);
    expect(skips(await mined(escrow.redeem!([redeemArg(v, 10n)], service.address)))).toEqual([[chA, 0, "expired"]]);
  });

  it("skips a bad signature: another key, the payer's own address key, or the amount changed after signing", async () => {
    const byMallory = await voucher(alice, chA, 10n, 600, keyOf(mallory));
    const byPayerAddress = await voucher(alice, chA, 10n, 600, alice); // not the key the channel committed to
    const bumped = { ...(await voucher(alice, chA, 10n)), cumulativeAmount: 999n };
    const receipt = await mined(escrow.redeem!([redeemArg(byMallory, 10n), redeemArg(byPayerAddress, 10n), redeemArg(bumped, 999n)], service.address));
    expect(skips(receipt)).toEqual([
      [chA, 0, "bad-signature"],
      [chA, 1, "bad-signature"],
      [chA, 2, "bad-signature"],
    ]);
    expect(verifyVoucher(domain, voucherToJson(bumped), { now: await now(), signer: keyOf(alice).address, horizonSeconds: 0 })).toMatchObject({ ok: false, reason: "voucher-bad-signature" });
  });

  it("skips a caller that is not the channel's service, a voucher naming another payer, and an unknown channel", async () => {
    const v = redeemArg(await voucher(alice, chA, 10n), 10n);
    expect(skips(await mined(as(mallory).redeem!([v], mallory.address)))).toEqual([[chA, 0, "wrong-service"]]);
    const crossed = redeemArg(await signVoucher(keyOf(alice), domain, { channelId: chA, payer: bob.address, service: service.address, cumulativeAmount: 10n, expiry: (await now()) + 600 }), 10n);
    const unknown = redeemArg(await signVoucher(keyOf(alice), domain, { channelId: id("nope"), payer: alice.address, service: service.address, cumulativeAmount: 10n, expiry: (await now()) + 600 }), 10n);
    expect(skips(await mined(escrow.redeem!([crossed, unknown], service.address)))).toEqual([
      [chA, 0, "payer-mismatch"],
      [id("nope"), 1, "unknown-channel"],
    ]);
  });

  it("redeems the good vouchers of a batch and reports each bad one (one bad voucher used to revert it all)", async () => {
    const good = redeemArg(await voucher(alice, chA, 10n), 10n);
    const bad = redeemArg(await voucher(bob, chB, 50n, 600, keyOf(mallory)), 50n);
    const goodToo = redeemArg(await voucher(bob, chB, 40n), 40n);
    const receipt = await mined(escrow.redeem!([good, bad, goodToo], service.address));
    expect(skips(receipt)).toEqual([[chB, 1, "bad-signature"]]);
    expect(eventsOf(receipt, escrow, "BatchRedeemed")).toEqual([[service.address, service.address, 2n, 1n, 50n]]);
    expect([(await escrow.getChannel!(chA)).redeemed, (await escrow.getChannel!(chB)).redeemed]).toEqual([10n, 40n]);
  });

  it("refuses to pay a batch to the zero address", async () => {
    expect((await revertOf(escrow.redeem!([], ZeroAddress), escrow)).name).toBe("PaymentEscrowZeroAddress");
  });
});

describe("EIP-7702: a payer that turns its address into a contract", () => {
  it("cannot void a voucher its key signed: redemption checks the committed key with ecrecover, never ERC-1271", async () => {
    // Alice signs with the key of her own address (the common wallet case) and commits the channel to it.
    const ch = await openChannel(alice, 1000n, alice.address);
    const v = await voucher(alice, ch, 300n, 600, alice);
    // Then she delegates her address to code that refuses every ERC-1271 check (a sponsor sends the type-4 tx).
    const refusing = await f.deploy("RefusingWallet", service);
    const auth = await alice.authorize({ address: await refusing.getAddress(), nonce: await f.chain.provider.getTransactionCount(alice.address), chainId: f.chain.chainId });
    await (await mallory.sendTransaction({ to: mallory.address, type: 4, authorizationList: [auth] })).wait();
    expect(await f.chain.provider.getCode(alice.address)).toMatch(/^0xef0100/);

    const receipt = await mined(escrow.redeem!([redeemArg(v, 300n)], service.address));
    expect(skips(receipt)).toEqual([]);
    expect(await token.balanceOf!(service.address)).toBe(300n);
  });
});

describe("withdraw", () => {
  let ch: string;
  beforeEach(async () => {
    ch = await openChannel(alice, 1000n);
  });

  it("locks a stated amount: a request that ripened long ago takes only that, never what the service is owed", async () => {
    await mined(as(alice).requestWithdrawal!(ch, 200n));
    await increaseTime(f.chain.provider, 10 * DELAY); // long ripe
    // The service kept lending against the 800 the request did not lock.
    const owed = redeemArg(await voucher(alice, ch, 800n), 800n);
    const before: bigint = await token.balanceOf!(alice.address);
    const receipt = await mined(as(alice).withdraw!(ch)); // ahead of the redemption
    expect(eventsOf(receipt, escrow, "Withdrawn")).toEqual([[ch, alice.address, 200n]]);
    expect((await token.balanceOf!(alice.address)) - before).toBe(200n);
    await mined(escrow.redeem!([owed], service.address));
    expect(await token.balanceOf!(service.address)).toBe(800n);
  });

  it("opens a fresh delay with each request", async () => {
    await mined(as(alice).requestWithdrawal!(ch, 100n));
    await increaseTime(f.chain.provider, DELAY);
    const receipt = await mined(as(alice).requestWithdrawal!(ch, 300n));
    const at = BigInt((await now()) + DELAY);
    expect(eventsOf(receipt, escrow, "WithdrawalRequested")).toEqual([[ch, 300n, at]]);
    expect(await revertOf(as(alice).withdraw!(ch), escrow)).toEqual({ name: "PaymentEscrowWithdrawalNotReady", args: [ch, at] });
    await increaseTime(f.chain.provider, DELAY);
    await mined(as(alice).withdraw!(ch));
    expect((await escrow.getChannel!(ch)).deposit).toBe(700n);
  });

  it("lets the service redeem first during the delay; the payer then gets what is left, at most the stated amount", async () => {
    await mined(as(alice).requestWithdrawal!(ch, 500n));
    await mined(escrow.redeem!([redeemArg(await voucher(alice, ch, 900n, 7200), 900n)], service.address));
    await increaseTime(f.chain.provider, DELAY);
    const receipt = await mined(as(alice).withdraw!(ch));
    expect(eventsOf(receipt, escrow, "Withdrawn")).toEqual([[ch, alice.address, 100n]]);
    const c = await escrow.getChannel!(ch);
    expect([c.deposit, c.redeemed, c.withdrawableAt, c.withdrawalAmount]).toEqual([900n, 900n, 0n, 0n]);
  });

  it("refuses a zero amount, more than is unredeemed, a withdrawal without a request, a cancelled one, and anyone but the payer", async () => {
    expect(await revertOf(as(alice).requestWithdrawal!(ch, 0n), escrow)).toEqual({ name: "PaymentEscrowBadWithdrawalAmount", args: [ch, 0n, 1000n] });
    expect((await revertOf(as(alice).requestWithdrawal!(ch, 1001n), escrow)).name).toBe("PaymentEscrowBadWithdrawalAmount");
    expect((await revertOf(as(alice).withdraw!(ch), escrow)).name).toBe("PaymentEscrowNoWithdrawalRequested");
    expect(await revertOf(as(mallory).requestWithdrawal!(ch, 1n), escrow)).toEqual({ name: "PaymentEscrowNotPayer", args: [ch, mallory.address] });
    await mined(as(alice).requestWithdrawal!(ch, 1000n));
    await increaseTime(f.chain.provider, DELAY);
    expect((await revertOf(as(mallory).withdraw!(ch), escrow)).name).toBe("PaymentEscrowNotPayer");
    expect(eventsOf(await mined(as(alice).cancelWithdrawal!(ch)), escrow, "WithdrawalCancelled")).toEqual([[ch]]);
    expect((await revertOf(as(alice).withdraw!(ch), escrow)).name).toBe("PaymentEscrowNoWithdrawalRequested");
    expect((await revertOf(as(alice).cancelWithdrawal!(ch), escrow)).name).toBe("PaymentEscrowNoWithdrawalRequested");
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
    await mined(f.contract("PaymentEscrow", bob, await hookEscrow.getAddress()).open!(service.address, keyOf(bob).address, salt, 5000n));
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
