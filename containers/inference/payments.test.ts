// Pay-per-call on the OpenAI routes: a priced adapter answers 402 with an x402 quote, a paid call is
// charged its actual cost (PAYMENT-RESPONSE, `payment` in the body), a free one needs an API key;
// every call leaves one usage record.
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { voucherSignerRecovery } from "../../adapters/chain/voucher-signer.ts";
import { priceKey } from "../../core/payments/adapter-prices.ts";
import { ChannelLocks } from "../../core/payments/channel-lock.ts";
import { readLedger } from "../../core/payments/channel-ledger.ts";
import type { ChannelState } from "../../core/payments/channel.ts";
import type { PaymentsDeps } from "../../core/payments/paid-calls.ts";
import { findUsage } from "../../core/payments/usage.ts";
import { CHAIN_ID, ESCROW, openChannel, paymentHeader, TERMS } from "../../test/fakes/payments.ts";
import { paymentAuthorizer } from "./payment-authorizer.ts";
import { listenLoopback, testService, type TestService } from "./test-support.ts";
import { usageHook } from "./usage-hook.ts";

let svc: TestService;
let url: string;
let stop: () => Promise<void>;
let payments: PaymentsDeps;
let payer: Awaited<ReturnType<typeof openChannel>>["payer"];
let channel: ChannelState;

beforeAll(async () => {
  const usage = new SqliteTableStore(new DatabaseSync(":memory:"), "usage", { stream: true });
  payments = { usage, clock: { now: () => Date.now() }, terms: TERMS, epochSeconds: 60, recoverSigner: voucherSignerRecovery(CHAIN_ID, ESCROW), locks: new ChannelLocks() };
  let tablesRef: TestService["tables"] | undefined;
  svc = await testService({
    adapters: [{ id: "ad_paid" }, { id: "ad_free" }],
    authorizer: (tables, inner) => {
      tablesRef = tables;
      return paymentAuthorizer({ tables, payments, inner, origin: "http://localhost:8787" });
    },
    hooks: [(r) => usageHook({ tables: tablesRef!, payments })(r)],
  });
  await svc.tables.main.put({ ...priceKey("ad_paid"), perCall: "1000", perThousandOutputTokens: "20000" });
  ({ url, stop } = await listenLoopback(svc.service.app.fetch));
  ({ payer, channel } = await openChannel(payments, 1_000_000n));
}, 60_000);
afterAll(async () => {
  await stop();
  await svc.close();
});

const chat = (model: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ model, messages: [{ role: "user", content: "Capital of France?" }], max_tokens: 8, temperature: 0, ...extra }) });

describe("prices on /v1/models", () => {
  it("shows each model's price as an extension field, in the list and for one model", async () => {
    const { data } = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string; price?: unknown }[] };
    expect(data.find((m) => m.id === "ad_paid")?.price).toEqual({ perCall: "1000", perThousandOutputTokens: "20000" });
    expect(data.find((m) => m.id === "ad_free")?.price).toEqual({ perCall: "0", perThousandOutputTokens: "0" });
    expect(data.every((m) => m.price !== undefined)).toBe(true);
    expect(await (await fetch(`${url}/v1/models/ad_paid`)).json()).toMatchObject({ id: "ad_paid", price: { perCall: "1000", perThousandOutputTokens: "20000" } });
  });
});

describe("pay-per-call on /v1/chat/completions", () => {
  it("answers a priced adapter without payment with 402, the quote in PAYMENT-REQUIRED and the body", async () => {
    const res = await chat("ad_paid");
    expect(res.status).toBe(402);
    const body = await res.json();
    expect(decodePaymentRequiredHeader(res.headers.get("payment-required")!)).toEqual(body);
    // 1000 per call + 8 tokens × 20 per token
    expect(body).toMatchObject({ x402Version: 2, error: "payment-required", resource: { url: "http://localhost:8787/v1/chat/completions" }, accepts: [{ scheme: "escrow-voucher", amount: "1160", network: "eip155:31337" }] });
  });

  it("charges a paid call its actual cost and says so in PAYMENT-RESPONSE and the body", async () => {
    const { header } = await paymentHeader(payer, channel, 1160n, Date.now());
    const res = await chat("ad_paid", { "payment-signature": header });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: string; usage: { completion_tokens: number }; payment: { charged: string } };
    const cost = 1000 + Math.ceil((body.usage.completion_tokens * 20000) / 1000);
    expect(body.payment.charged).toBe(String(cost));
    expect(decodePaymentResponseHeader(res.headers.get("payment-response")!)).toMatchObject({ success: true, payer: payer.address, charged: String(cost), cumulativeCharged: String(cost) });
    expect(await findUsage(payments.usage, body.id)).toMatchObject({ adapterId: "ad_paid", charged: String(cost), payer: payer.address, completionTokens: body.usage.completion_tokens });
    // The same voucher again is a replay: 402 with a reason, nothing charged.
    const replay = await chat("ad_paid", { "payment-signature": header });
    expect(replay.status).toBe(402);
    // (not above what was charged when all 8 tokens were generated, else below charged + this call's maximum)
    expect(["voucher-not-above-charged", "voucher-below-quote"]).toContain(((await replay.json()) as { error: string }).error);
    expect((await findUsage(payments.usage, body.id))?.charged).toBe(String(cost));
  });

  it("puts the receipt in the last chunk of a stream", async () => {
    const { charged } = await readLedger(payments.usage, channel.channelId);
    const { header } = await paymentHeader(payer, channel, charged + 1160n, Date.now());
    const res = await chat("ad_paid", { "payment-signature": header }, { stream: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    const chunks = text.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
    expect(chunks.at(-1).payment).toMatchObject({ channelId: channel.channelId });
  });

  it("keeps a free adapter on API keys, and records its usage at price 0", async () => {
    expect((await chat("ad_free")).status).toBe(401);
    const res = await chat("ad_free", { authorization: `Bearer ${svc.keys.other}` });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    expect(await findUsage(payments.usage, id)).toMatchObject({ adapterId: "ad_free", charged: "0" });
  });
});
