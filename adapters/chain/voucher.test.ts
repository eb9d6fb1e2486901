import { id, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { decodeVoucherHeader, encodeVoucherHeader, signVoucher, verifyVoucher, voucherDomain, voucherToJson, type Voucher } from "./voucher.ts";

const payer = new Wallet(id("payer key"));
const other = new Wallet(id("other key"));
const service = new Wallet(id("service key")).address;
const domain = voucherDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const NOW = 1_800_000_000;
const base: Voucher = { channelId: id("channel"), payer: payer.address, service, cumulativeAmount: 1500n, expiry: NOW + 300 };

describe("signVoucher / verifyVoucher", () => {
  it("accepts a voucher its payer signed, above the last amount and within the deposit", async () => {
    const v = await signVoucher(payer, domain, base);
    const check = verifyVoucher(domain, voucherToJson(v), { now: NOW, service, payer: payer.address, lastAmount: 1000n, deposit: 5000n });
    expect(check).toEqual({ ok: true, voucher: v });
  });

  it("refuses to sign for another payer", async () => {
    await expect(signVoucher(other, domain, base)).rejects.toThrow(/not the voucher's payer/);
  });

  it("rejects each way a voucher can be wrong, with a stable reason", async () => {
    const v = voucherToJson(await signVoucher(payer, domain, base));
    const cases: [unknown, object, string][] = [
      [{ ...v, cumulativeAmount: "1501" }, {}, "voucher-bad-signature"],
      [{ ...v, signature: "0x1234" }, {}, "voucher-bad-signature"],
      [v, { now: NOW + 301 }, "voucher-expired"],
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
      expect(verifyVoucher(domain, input, { now: NOW, ...options }), reason).toMatchObject({ ok: false, reason });
    }
  });

  it("binds the voucher to one escrow on one chain", async () => {
    const v = voucherToJson(await signVoucher(payer, domain, base));
    expect(verifyVoucher(voucherDomain(1, "0x5FbDB2315678afecb367f032d93F642f64180aa3"), v, { now: NOW }).ok).toBe(false);
    expect(verifyVoucher(voucherDomain(31337, other.address), v, { now: NOW }).ok).toBe(false);
  });
});

describe("voucher header", () => {
  it("round-trips and survives garbage", async () => {
    const v = await signVoucher(payer, domain, base);
    const decoded = decodeVoucherHeader(encodeVoucherHeader(v));
    expect(verifyVoucher(domain, decoded, { now: NOW })).toEqual({ ok: true, voucher: v });
    expect(decodeVoucherHeader("%%%")).toBeUndefined();
    expect(verifyVoucher(domain, decodeVoucherHeader("%%%"), { now: NOW })).toMatchObject({ ok: false, reason: "voucher-malformed" });
  });
});
