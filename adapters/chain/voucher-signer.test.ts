import { Signature, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { secp256k1 } from "@noble/curves/secp256k1";
import { VOUCHER_TYPES, voucherDomain } from "./voucher.ts";
import { voucherSignerRecovery } from "./voucher-signer.ts";

const ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const key = Wallet.createRandom();
const other = Wallet.createRandom();

async function signed(amount: bigint, by = key) {
  const v = { channelId: `0x${"ab".repeat(32)}`, payer: key.address, service: other.address, cumulativeAmount: amount, expiry: 2_000_000_000 };
  return { ...v, signature: await by.signTypedData(voucherDomain(31337, ESCROW), VOUCHER_TYPES, v) };
}

describe("voucherSignerRecovery", () => {
  it("recovers the signer as ethers does, and nobody else for a changed amount or a flipped recovery id", async () => {
    const check = voucherSignerRecovery(31337, ESCROW);
    expect(check(await signed(1n), key.address)).toBe(key.address);
    expect(check(await signed(2n), key.address)).toBe(key.address);
    // Another key's signature, a changed amount, or a flipped recovery id is not this key's.
    expect(check(await signed(3n, other), key.address)).toBe(other.address);
    // A second voucher of the key (its point now cached) still verifies; a second of the other key still names the other key.
    expect(check(await signed(6n), key.address)).toBe(key.address);
    expect(check(await signed(8n, other), key.address)).toBe(other.address);
    const v = await signed(4n);
    expect(check({ ...v, cumulativeAmount: 5n }, key.address)).not.toBe(key.address);
    const sig = Signature.from(v.signature);
    const flipped = Signature.from({ r: sig.r, s: sig.s, v: sig.v === 27 ? 28 : 27 }).serialized;
    expect(check({ ...v, signature: flipped }, key.address)).not.toBe(key.address);
  });

  it("refuses the high-s twin of a valid signature, as OpenZeppelin's ECDSA does", async () => {
    const check = voucherSignerRecovery(31337, ESCROW);
    const v = await signed(7n);
    check(v, key.address);
    const sig = Signature.from(v.signature);
    const highS = secp256k1.CURVE.n - BigInt(sig.s);
    const twin = `0x${sig.r.slice(2)}${highS.toString(16).padStart(64, "0")}${(sig.v === 27 ? 28 : 27).toString(16)}`;
    expect(check({ ...v, signature: twin }, key.address)).not.toBe(key.address);
  });

  it("is bound to the domain: a voucher for another chain or escrow is not the key's", async () => {
    const v = await signed(9n);
    expect(voucherSignerRecovery(1, ESCROW)(v, key.address)).not.toBe(key.address);
    expect(voucherSignerRecovery(31337, other.address)(v, key.address)).not.toBe(key.address);
  });
});
