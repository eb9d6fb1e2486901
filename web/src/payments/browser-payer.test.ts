import { encodePaymentRequiredHeader } from "@x402/core/http";
import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { recoverVoucherSigner, voucherDomain } from "../../../adapters/chain/voucher.ts";
import { paymentRequired, parsePaymentSignature } from "../../../core/payments/x402.ts";
import { TERMS } from "../../../test/fakes/payments.ts";
import { applyReceipt, ChannelBook, paymentFor, readQuote, type BrowserChannel } from "./browser-payer.ts";

/** A Storage on a Map, as localStorage behaves. */
class MapStorage implements Storage {
  readonly #m = new Map<string, string>();
  get length() { return this.#m.size; }
  clear() { this.#m.clear(); }
  getItem(k: string) { return this.#m.get(k) ?? null; }
  key(i: number) { return [...this.#m.keys()][i] ?? null; }
  removeItem(k: string) { this.#m.delete(k); }
  setItem(k: string, v: string) { this.#m.set(k, v); }
}

const NOW = 1_800_000_000;
const quote = (amount: bigint, channel?: { channelId: string; charged: bigint; deposit: bigint }) => paymentRequired({
  terms: TERMS, error: channel ? "voucher-below-quote" : "payment-required",
  resource: { url: "/v1/chat/completions", description: "ad_1", mimeType: "application/json" },
  price: { perCall: "1000", perThousandOutputTokens: "0" }, maxTokens: 4, amount, nowSeconds: NOW, ...(channel ? { channel } : {}),
});

describe("browser payer", () => {
  it("reads the 402's quote from its PAYMENT-REQUIRED header, or its body", async () => {
    const q = quote(1000n);
    const fromHeader = await readQuote(new Response("{}", { status: 402, headers: { "PAYMENT-REQUIRED": encodePaymentRequiredHeader(q) } }));
    expect(fromHeader).toMatchObject({ chainId: TERMS.chainId, escrow: TERMS.escrow, asset: TERMS.asset, service: TERMS.payTo, amount: 1000n, reason: "payment-required" });
    expect(await readQuote(new Response(JSON.stringify(q), { status: 402 }))).toEqual(fromHeader);
    const named = await readQuote(new Response(JSON.stringify(quote(1000n, { channelId: `0x${"ab".repeat(32)}`, charged: 3000n, deposit: 9000n })), { status: 402 }));
    expect(named).toMatchObject({ reason: "voucher-below-quote", channel: { charged: 3000n, deposit: 9000n } });
    // Not ours: OpenAI's error shape, or another scheme.
    expect(await readQuote(new Response(JSON.stringify({ error: { message: "no" } }), { status: 402 }))).toBeUndefined();
  });

  it("signs a voucher for the channel's charge plus the quote with the channel's own key, which the platform's parser and the escrow's recovery accept", async () => {
    // Prepare
    const key = Wallet.createRandom();
    const payer = Wallet.createRandom().address;
    const channel: BrowserChannel = { chainId: TERMS.chainId, escrow: TERMS.escrow, service: TERMS.payTo, asset: TERMS.asset, channelId: `0x${"cd".repeat(32)}`, payer, signingKey: key.privateKey, deposit: "100000", charged: "2500", openedTx: `0x${"01".repeat(32)}` };
    const terms = (await readQuote(new Response(JSON.stringify(quote(1000n)), { status: 402 })))!;
    // Act
    const parsed = parsePaymentSignature(await paymentFor(channel, terms));
    // Assess
    if (!parsed.ok) throw new Error(parsed.detail);
    expect(parsed.voucher).toMatchObject({ channelId: channel.channelId, payer, service: TERMS.payTo, cumulativeAmount: 3500n });
    expect(parsed.voucher.expiry).toBeGreaterThan(terms.minExpiry);
    expect(parsed.accepted).toEqual({ network: `eip155:${TERMS.chainId}`, escrow: TERMS.escrow });
    expect(recoverVoucherSigner(voucherDomain(TERMS.chainId, TERMS.escrow), parsed.voucher, parsed.voucher.signature)).toBe(key.address);
  });

  it("keeps channels per payer and moves a channel's charge forward only, by its receipts", () => {
    const storage = new MapStorage();
    const book = new ChannelBook("0xAbC0000000000000000000000000000000000001", storage);
    const base = { chainId: 31337, escrow: TERMS.escrow, service: TERMS.payTo, asset: TERMS.asset, payer: "0xabc0000000000000000000000000000000000001", signingKey: "0x01", deposit: "5000", charged: "0", openedTx: "0x" };
    book.save({ ...base, channelId: "0xaa" });
    book.save({ ...base, channelId: "0xbb" });
    // The newest channel for the same terms.
    expect(book.find({ chainId: 31337, escrow: TERMS.escrow, service: TERMS.payTo, asset: TERMS.asset })?.channelId).toBe("0xbb");
    expect(book.find({ chainId: 1, escrow: TERMS.escrow, service: TERMS.payTo, asset: TERMS.asset })).toBeUndefined();
    expect(new ChannelBook("0x0000000000000000000000000000000000000002", storage).list()).toEqual([]);
    expect(applyReceipt(book, { channelId: "0xAA", cumulativeCharged: "1200" })?.charged).toBe("1200");
    // A late, older receipt does not move it back.
    expect(applyReceipt(book, { channelId: "0xaa", cumulativeCharged: "800" })?.charged).toBe("1200");
    expect(new ChannelBook("0xabc0000000000000000000000000000000000001", storage).list().find((c) => c.channelId === "0xaa")?.charged).toBe("1200");
  });
});
