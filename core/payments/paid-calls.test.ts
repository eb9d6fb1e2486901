import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { ChannelLocks } from "./channel-lock.ts";
import { readLedger } from "./channel-ledger.ts";
import { abandonPayment, authorizePayment, completePayment, recordFreeCall, type CallOutcome, type CallTerms, type PaymentsDeps } from "./paid-calls.ts";
import { findUsage, UsageRecord } from "./usage.ts";
import { VoucherRejections } from "./voucher-policy.ts";
import { channelStateKey, usageKey } from "./keys.ts";
import { channelToItem } from "./channel.ts";
import { CHAIN_ID, ESCROW, openChannel, paymentHeader, paymentsDeps, SERVICE, TOKEN } from "../../test/fakes/payments.ts";

const PRICE = { perCall: "1000", perThousandOutputTokens: "20000" };
// max cost of a 64-token call: 1000 + 64 × 20 = 2280
const MAX = 2280n;

const call = (requestId: string, paymentHeader: string | null): CallTerms => ({
  requestId,
  price: PRICE,
  maxTokens: 64,
  resource: { url: "http://localhost/v1/chat/completions", description: "chat with ad_1", mimeType: "application/json" },
  paymentHeader,
});
const outcome = (completionTokens: number, finishReason: CallOutcome["finishReason"] = "stop"): CallOutcome => ({
  adapterId: "ad_1",
  baseModel: "tiny",
  owner: "0x00000000000000000000000000000000000000A1",
  promptTokens: 10,
  completionTokens,
  finishReason,
  attribution: { method: "static", contributors: [] },
});

async function setup(deposit = 1_000_000n) {
  const t = paymentsDeps();
  const { payer, channel } = await openChannel(t.deps, deposit);
  return { ...t, payer, channel };
}

async function expectNothingCharged(deps: PaymentsDeps, channelId: string, requestId: string) {
  expect((await readLedger(deps.usage, channelId)).charged).toBe(0n);
  expect(await findUsage(deps.usage, requestId)).toBeUndefined();
}

describe("authorizePayment: the quote", () => {
  it("answers a call without payment with an x402 v2 quote in the header and the body", async () => {
    const { deps } = await setup();
    const d = await authorizePayment(deps, call("r1", null));
    if (d.ok) throw new Error("expected 402");
    expect(d.status).toBe(402);
    expect(decodePaymentRequiredHeader(d.headers["PAYMENT-REQUIRED"]!)).toEqual(d.body);
    expect(d.body).toMatchObject({
      x402Version: 2,
      error: "payment-required",
      resource: { url: "http://localhost/v1/chat/completions", mimeType: "application/json" },
      accepts: [{ scheme: "escrow-voucher", network: `eip155:${CHAIN_ID}`, amount: MAX.toString(), asset: TOKEN, payTo: SERVICE, extra: { escrow: ESCROW, name: "PaymentEscrow", version: "1" } }],
    });
  });
});

describe("authorizePayment: bad vouchers are refused with a reason and nothing is charged", () => {
  const cases: [string, string, (s: Awaited<ReturnType<typeof setup>>) => Promise<string>][] = [
    ["a wrong signature", VoucherRejections.badSignature, async (s) => (await paymentHeader(s.payer, s.channel, MAX, s.clock.now(), { signer: Wallet.createRandom() })).header],
    ["a wrong chain id (claimed)", VoucherRejections.wrongNetwork, async (s) => (await paymentHeader(s.payer, s.channel, MAX, s.clock.now(), { chainId: 1 })).header],
    ["a wrong chain id (signed only)", VoucherRejections.badSignature, async (s) => (await paymentHeader(s.payer, s.channel, MAX, s.clock.now(), { chainId: 1, acceptedNetwork: `eip155:${CHAIN_ID}` })).header],
    ["a wrong escrow", VoucherRejections.wrongEscrow, async (s) => (await paymentHeader(s.payer, s.channel, MAX, s.clock.now(), { escrow: "0x0000000000000000000000000000000000000E5C" })).header],
    ["another payer's channel", VoucherRejections.wrongPayer, async (s) => (await paymentHeader(Wallet.createRandom(), s.channel, MAX, s.clock.now())).header],
    ["an amount below the quote", VoucherRejections.belowQuote, async (s) => (await paymentHeader(s.payer, s.channel, MAX - 1n, s.clock.now())).header],
    ["an amount above the deposit", VoucherRejections.aboveDeposit, async (s) => (await paymentHeader(s.payer, s.channel, 1_000_001n, s.clock.now())).header],
    ["an expired voucher", VoucherRejections.expired, async (s) => (await paymentHeader(s.payer, s.channel, MAX, s.clock.now(), { expiry: Math.floor(s.clock.now() / 1000) - 1 })).header],
    ["one expiring before settlement", VoucherRejections.expired, async (s) => (await paymentHeader(s.payer, s.channel, MAX, s.clock.now(), { expiry: Math.floor(s.clock.now() / 1000) + 60 })).header],
    ["a header that is not base64 JSON", VoucherRejections.malformed, async () => "%%%"],
  ];
  for (const [name, reason, make] of cases) {
    it(`refuses ${name} (${reason})`, async () => {
      const s = await setup();
      const d = await authorizePayment(s.deps, call("r1", await make(s)));
      expect(d.ok).toBe(false);
      if (d.ok) return;
      expect(d.reason).toBe(reason);
      expect(d.body.error).toBe(reason);
      await expectNothingCharged(s.deps, s.channel.channelId, "r1");
    });
  }

  it("refuses a replayed voucher once it has been charged", async () => {
    const s = await setup();
    const { header } = await paymentHeader(s.payer, s.channel, MAX, s.clock.now());
    const first = await authorizePayment(s.deps, call("r1", header));
    if (!first.ok) throw new Error(first.reason);
    await completePayment(s.deps, first.grant, outcome(64));
    const replay = await authorizePayment(s.deps, call("r2", header));
    expect(replay.ok).toBe(false);
    if (replay.ok) return;
    expect(replay.reason).toBe(VoucherRejections.notAboveCharged);
    // The quote tells the client where its channel stands.
    expect(replay.body.accepts[0]!.extra.channel).toEqual({ channelId: s.channel.channelId, charged: MAX.toString(), deposit: "1000000" });
    expect(await findUsage(s.deps.usage, "r2")).toBeUndefined();
  });

  it("refuses an unknown channel and one whose withdrawal ripens before settlement", async () => {
    const s = await setup();
    const unknown = await paymentHeader(s.payer, { ...s.channel, channelId: `0x${"ab".repeat(32)}` }, MAX, s.clock.now());
    const d1 = await authorizePayment(s.deps, call("r1", unknown.header));
    expect(!d1.ok && d1.reason).toBe(VoucherRejections.unknownChannel);
    const closing = { ...s.channel, withdrawal: { amount: 10n, availableAt: Math.floor(s.clock.now() / 1000) + 100 } };
    await s.deps.usage.put({ ...channelStateKey(closing.channelId), ...channelToItem(closing) });
    const { header } = await paymentHeader(s.payer, s.channel, MAX, s.clock.now());
    const d2 = await authorizePayment(s.deps, call("r2", header));
    expect(!d2.ok && d2.reason).toBe(VoucherRejections.channelClosing);
  });
});

describe("charging", () => {
  it("charges the actual cost, not the quote, and answers PAYMENT-RESPONSE", async () => {
    const s = await setup();
    const { header } = await paymentHeader(s.payer, s.channel, MAX, s.clock.now());
    const d = await authorizePayment(s.deps, call("r1", header));
    if (!d.ok) throw new Error(d.reason);
    const { record, headers } = await completePayment(s.deps, d.grant, outcome(7));
    // 1000 + ceil(7 × 20000 / 1000) = 1140
    expect(record.charged).toBe("1140");
    expect(record.cumulativeCharged).toBe("1140");
    expect(decodePaymentResponseHeader(headers["PAYMENT-RESPONSE"]!)).toMatchObject({ success: true, payer: s.payer.address, charged: "1140", cumulativeCharged: "1140", network: "eip155:31337" });
    expect((await readLedger(s.deps.usage, s.channel.channelId)).charged).toBe(1140n);
  });

  it("charges a stream cut off mid-way for the tokens delivered, and a failed call nothing", async () => {
    const s = await setup();
    const a = await authorizePayment(s.deps, call("cut", (await paymentHeader(s.payer, s.channel, MAX, s.clock.now())).header));
    if (!a.ok) throw new Error(a.reason);
    expect((await completePayment(s.deps, a.grant, outcome(3, "cancelled"))).record.charged).toBe("1060");
    const b = await authorizePayment(s.deps, call("fail", (await paymentHeader(s.payer, s.channel, 1060n + MAX, s.clock.now())).header));
    if (!b.ok) throw new Error(b.reason);
    const failed = await completePayment(s.deps, b.grant, outcome(5, "error"));
    expect(failed.record.charged).toBe("0");
    const c = await authorizePayment(s.deps, call("none", (await paymentHeader(s.payer, s.channel, 1060n + MAX, s.clock.now())).header));
    if (!c.ok) throw new Error(c.reason);
    expect((await completePayment(s.deps, c.grant, outcome(0, "cancelled"))).record.charged).toBe("0");
    expect((await readLedger(s.deps.usage, s.channel.channelId)).charged).toBe(1060n);
  });

  it("serialises two concurrent calls on one channel: both charged once, in order", async () => {
    const s = await setup();
    // The client signs for both calls in flight: charged + 1 × max, charged + 2 × max.
    const h1 = (await paymentHeader(s.payer, s.channel, MAX, s.clock.now())).header;
    const h2 = (await paymentHeader(s.payer, s.channel, 2n * MAX, s.clock.now())).header;
    const order: string[] = [];
    const run = async (id: string, header: string, tokens: number) => {
      const d = await authorizePayment(s.deps, call(id, header));
      if (!d.ok) throw new Error(`${id}: ${d.reason}`);
      order.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, 20));
      const { record } = await completePayment(s.deps, d.grant, outcome(tokens));
      order.push(`end ${id}`);
      return record;
    };
    const [r1, r2] = await Promise.all([run("c1", h1, 10), run("c2", h2, 20)]);
    expect(order).toEqual(["start c1", "end c1", "start c2", "end c2"]);
    expect([r1.seq, r2.seq]).toEqual([1, 2]);
    expect(r1.cumulativeCharged).toBe("1200");
    expect(r2.cumulativeCharged).toBe("2600");
    expect((await readLedger(s.deps.usage, s.channel.channelId)).charged).toBe(2600n);
  });

  it("a second call cannot spend headroom the first one holds, even from another process", async () => {
    const s = await setup();
    const h = (await paymentHeader(s.payer, s.channel, MAX, s.clock.now())).header;
    const d = await authorizePayment(s.deps, call("p1", h));
    if (!d.ok) throw new Error(d.reason);
    // Another process: its own locks, the same table; it waits on the hold, then gives up.
    const blocked = await authorizePayment({ ...s.deps, locks: new ChannelLocks(), channelWaitMs: 50 }, call("p2", h));
    expect(blocked.ok).toBe(false);
    // Once the hold is gone (abandoned: nothing charged), the same voucher is good again.
    await abandonPayment(s.deps, d.grant);
    expect((await readLedger(s.deps.usage, s.channel.channelId)).hold).toBeNull();
    const retry = await authorizePayment({ ...s.deps, locks: new ChannelLocks() }, call("p2", h));
    expect(retry.ok).toBe(true);
  });

  it("writes a usage record once per request id: a repeat changes nothing", async () => {
    const s = await setup();
    const d = await authorizePayment(s.deps, call("dup", (await paymentHeader(s.payer, s.channel, MAX, s.clock.now())).header));
    if (!d.ok) throw new Error(d.reason);
    const first = await completePayment(s.deps, d.grant, outcome(10));
    const again = await completePayment(s.deps, d.grant, outcome(60));
    expect(again.record).toEqual(first.record);
    expect((await readLedger(s.deps.usage, s.channel.channelId)).charged).toBe(1200n);
    const free = await recordFreeCall(s.deps, "free1", s.payer.address, { perCall: "0", perThousandOutputTokens: "0" }, outcome(5));
    expect(await recordFreeCall(s.deps, "free1", s.payer.address, { perCall: "0", perThousandOutputTokens: "0" }, outcome(9))).toEqual(free);
  });

  it("stores a record that its own schema reads back, when given a stored adapter price (with its id and time)", async () => {
    // The inference service passes the adapter's stored price; record-usage parses the record from the stream.
    const s = await setup();
    const stored = { adapterId: "ad_1", perCall: "0", perThousandOutputTokens: "0", updatedAt: null };
    await recordFreeCall(s.deps, "free2", s.payer.address, stored, outcome(5));
    const item = await s.deps.usage.get(usageKey("free2"));
    expect(UsageRecord.parse(item).price).toEqual({ perCall: "0", perThousandOutputTokens: "0" });
  });
});
