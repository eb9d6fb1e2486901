import { id, TypedDataEncoder, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import {
  decodeVoucherHeader,
  DEFAULT_SETTLEMENT_HORIZON_SECONDS,
  encodeVoucherHeader,
  recoverVoucherSigner,
  MAX_REDEMPTIONS_PER_TX,
  redeemArg,
  redemptionBatches,
  redemptionSkipReason,
  settlementHorizonSeconds,
  signVoucher,
  verifyVoucher,
  VOUCHER_TYPES,
  voucherDomain,
  voucherToJson,
  voucherTypedData,
  type Voucher,
} from "./voucher.ts";

const payer = new Wallet(id("payer key"));
// The channel's signing key is its own key, not the payer's address (which may become a contract).
const key = new Wallet(id("channel signing key"));
const other = new Wallet(id("other key"));
const service = new Wallet(id("service key")).address;
const domain = voucherDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const NOW = 1_800_000_000;
const HORIZON = 120;
const base: Voucher = { channelId: id("channel"), payer: payer.address, service, cumulativeAmount: 1500n, expiry: NOW + 300 };
const opts = { now: NOW, signer: key.address, horizonSeconds: HORIZON };

describe("signVoucher / verifyVoucher", () => {
  it("accepts a voucher the channel's key signed, above the last amount, within the deposit and the horizon", async () => {
    const v = await signVoucher(key, domain, base, key.address);
    const check = verifyVoucher(domain, voucherToJson(v), { ...opts, service, payer: payer.address, lastAmount: 1000n, deposit: 5000n });
    expect(check).toEqual({ ok: true, voucher: v });
  });

  it("refuses to sign with a key other than the channel's", async () => {
    await expect(signVoucher(other, domain, base, key.address)).rejects.toThrow(/not the channel's signing key/);
  });

  it("rejects each way a voucher can be wrong, with a stable reason", async () => {
    const v = voucherToJson(await signVoucher(key, domain, base));
    const byPayer = voucherToJson(await signVoucher(payer, domain, base));
    const cases: [unknown, object, string][] = [
      [{ ...v, cumulativeAmount: "1501" }, {}, "voucher-bad-signature"],
      [{ ...v, signature: "0x1234" }, {}, "voucher-malformed"], // not 64 or 65 bytes: the one voucher schema refuses it before any recovery
      [{ ...v, signature: `${v.signature.slice(0, -2)}1f` }, {}, "voucher-bad-signature"], // 65 bytes, but v is neither 27 nor 28
      [byPayer, {}, "voucher-bad-signature"], // the payer's address is not the channel's key
      [v, { now: NOW + 301 }, "voucher-expired"],
      [v, { now: NOW + 300 - HORIZON + 1 }, "voucher-expires-before-settlement"],
      [v, { service: other.address }, "voucher-wrong-service"],
      [v, { payer: other.address }, "voucher-wrong-payer"],
      [v, { lastAmount: 1500n }, "voucher-not-above-last"],
      [v, { deposit: 1499n }, "voucher-above-deposit"],
      [{ ...v, cumulativeAmount: -1 }, {}, "voucher-malformed"],
      [{ ...v, cumulativeAmount: "01" }, {}, "voucher-malformed"],
      [{ ...v, extra: true }, {}, "voucher-malformed"],
      ["not an object", {}, "voucher-malformed"],
    ];
    for (const [input, options, reason] of cases) {
      expect(verifyVoucher(domain, input, { ...opts, ...options }), reason).toMatchObject({ ok: false, reason });
    }
    // At exactly the horizon it is still good.
    expect(verifyVoucher(domain, v, { ...opts, now: NOW + 300 - HORIZON }).ok).toBe(true);
  });

  it("applies the default settlement horizon (an hourly epoch plus 15 minutes) when none is given", async () => {
    expect(DEFAULT_SETTLEMENT_HORIZON_SECONDS).toBe(4500);
    expect(settlementHorizonSeconds(60)).toBe(960);
    expect(() => settlementHorizonSeconds(0)).toThrow(RangeError);
    const short = voucherToJson(await signVoucher(key, domain, { ...base, expiry: NOW + 4499 }));
    const long = voucherToJson(await signVoucher(key, domain, { ...base, expiry: NOW + 4500 }));
    expect(verifyVoucher(domain, short, { now: NOW, signer: key.address })).toMatchObject({ ok: false, reason: "voucher-expires-before-settlement" });
    expect(verifyVoucher(domain, long, { now: NOW, signer: key.address }).ok).toBe(true);
  });

  it("binds the voucher to one escrow on one chain", async () => {
    const v = voucherToJson(await signVoucher(key, domain, base));
    expect(verifyVoucher(voucherDomain(1, "0x5FbDB2315678afecb367f032d93F642f64180aa3"), v, opts).ok).toBe(false);
    expect(verifyVoucher(voucherDomain(31337, other.address), v, opts).ok).toBe(false);
  });
});

describe("recoverVoucherSigner / voucherTypedData", () => {
  it("recovers the signing key, and the typed-data payload hashes to what was signed", async () => {
    const v = await signVoucher(key, domain, base);
    expect(recoverVoucherSigner(domain, base, v.signature)).toBe(key.address);
    const td = voucherTypedData(domain, base);
    expect(td.primaryType).toBe("Voucher");
    expect(td.types.EIP712Domain.map((f) => f.name)).toEqual(["name", "version", "chainId", "verifyingContract"]);
    expect(TypedDataEncoder.hash(td.domain, VOUCHER_TYPES, td.message)).toBe(TypedDataEncoder.hash(domain, VOUCHER_TYPES, base));
    expect(() => recoverVoucherSigner(domain, base, "0x1234")).toThrow();
  });
});

describe("redeemArg", () => {
  it("redeems a chosen charge up to the voucher's maximum, never above", async () => {
    const v = await signVoucher(key, domain, base);
    expect(redeemArg(v, 900n)).toMatchObject({ charged: 900n, signature: v.signature, voucher: { cumulativeAmount: 1500n } });
    expect(() => redeemArg(v, 1501n)).toThrow(/outside/);
    expect(() => redeemArg(v, -1n)).toThrow(RangeError);
  });

  it("splits a settlement into batches that fit one transaction", () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const batches = redemptionBatches(items);
    expect(batches.map((b) => b.length)).toEqual([MAX_REDEMPTIONS_PER_TX, 1000 - MAX_REDEMPTIONS_PER_TX]);
    expect(batches.flat()).toEqual(items);
    expect(redemptionBatches([], 3)).toEqual([]);
    expect(() => redemptionBatches(items, 0)).toThrow(RangeError);
  });

  it("names the escrow's skip reasons", () => {
    expect(redemptionSkipReason(8n)).toBe("bad-signature");
    expect(() => redemptionSkipReason(9)).toThrow(RangeError);
  });
});

describe("voucher header", () => {
  it("round-trips and survives garbage", async () => {
    const v = await signVoucher(key, domain, base);
    const decoded = decodeVoucherHeader(encodeVoucherHeader(v));
    expect(verifyVoucher(domain, decoded, opts)).toEqual({ ok: true, voucher: v });
    expect(decodeVoucherHeader("%%%")).toBeUndefined();
    expect(verifyVoucher(domain, decodeVoucherHeader("%%%"), opts)).toMatchObject({ ok: false, reason: "voucher-malformed" });
  });
});
