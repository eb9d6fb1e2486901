import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import type { PaymentRequired } from "@x402/core/types";
import { createParser } from "eventsource-parser";
import { Wallet, type Signer } from "ethers";
import OpenAI from "openai";
import { signVoucher, voucherDomain } from "../adapters/chain/voucher.ts";
import { voucherToJson } from "../core/payments/channel.ts";
import { encodePaymentSignature, Headers402, quotedTerms, type QuotedTerms } from "../core/payments/x402.ts";
import { activeChannel, MemoryChannelStore, type ChannelStore, type StoredChannel } from "./channel-store.ts";
import { EscrowClient, type OnChainChannel } from "./escrow.ts";

/**
 * A client that pays per call: a `fetch` that answers the platform's 402
 * (x402 v2, scheme `escrow-voucher`) by itself. On a 402 it reads the quote
 * in PAYMENT-REQUIRED, opens and funds a channel on PaymentEscrow when it
 * has none, signs a cumulative EIP-712 voucher for what the channel was
 * charged so far plus the quote, and retries with PAYMENT-SIGNATURE; the
 * receipt (PAYMENT-RESPONSE, or `payment` in a stream's last chunk) moves its
 * record of the channel's charge. Give its `fetch` to the `openai` package
 * and `client.chat.completions.create` just works, streamed too:
 *
 *   const payer = new PayingClient({ baseURL: "http://127.0.0.1:8787", payer: wallet, store: new FileChannelStore(".mf-client.json") });
 *   const openai = payer.openai();
 *   await openai.chat.completions.create({ model: "ad_…", messages: [{ role: "user", content: "Hi" }] });
 */

/** The `apiKey` the openai package is given when the client pays instead (it is not sent). */
export const NO_API_KEY = "x402-pays";

export interface PayingClientOptions {
  /** The platform's origin, e.g. `http://127.0.0.1:8787` (the OpenAI routes are under /v1). */
  baseURL: string;
  /** The payer: a signer on the chain's provider; needed to open and fund channels, not to pay on one. */
  payer?: Signer;
  /** Where channels are remembered (default: in memory, for this process only). */
  store?: ChannelStore;
  /** Deposit of a channel opened automatically, in token base units (default 10 000 000: 10 tUSD). */
  deposit?: bigint;
  /** Open (and top up) channels by itself when a quote needs one (default true). */
  autoOpen?: boolean;
  /** Also send this API key (a free model needs one; a priced one does not). */
  apiKey?: string;
  /** How long to wait for the platform to see a channel just opened or funded (default 60 s). */
  channelWaitMs?: number;
  /** Called with every receipt. */
  onReceipt?: (receipt: Receipt) => void;
  /** Log lines about what the client does on chain (default: none). */
  log?: (line: string) => void;
  fetch?: typeof fetch;
}

/** What a paid call cost, from PAYMENT-RESPONSE or the stream's last chunk. */
export interface Receipt {
  requestId: string;
  channelId: string;
  /** Charged for this call, and on the channel in total, in token base units. */
  charged: bigint;
  cumulativeCharged: bigint;
}

/** Payment terms of a priced model, from its quote. */
export type PaymentTerms = QuotedTerms;

export class PaymentError extends Error {
  /** A stable code: the 402's `error`, or the client's own (`no-channel`, `no-payer`, `not-priced`). */
  readonly reason: string;
  readonly quote: PaymentRequired | undefined;
  constructor(message: string, reason: string, quote?: PaymentRequired) {
    super(message);
    this.name = "PaymentError";
    this.reason = reason;
    this.quote = quote;
  }
}

const RETRYABLE_WAIT = new Set(["voucher-unknown-channel"]);

export class PayingClient {
  readonly store: ChannelStore;
  readonly #o: PayingClientOptions;
  readonly #fetch: typeof fetch;

  constructor(options: PayingClientOptions) {
    this.#o = options;
    this.store = options.store ?? new MemoryChannelStore();
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** An `openai` client whose calls pay through this client. */
  openai(extra: Omit<ConstructorParameters<typeof OpenAI>[0] & object, "fetch" | "baseURL" | "apiKey"> = {}): OpenAI {
    return new OpenAI({ maxRetries: 0, ...extra, baseURL: `${this.#o.baseURL.replace(/\/$/, "")}/v1`, apiKey: this.#o.apiKey ?? NO_API_KEY, fetch: this.fetch });
  }

  /** A `fetch` that pays: pass it anywhere a fetch is taken. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const body = request.body ? await request.arrayBuffer() : undefined;
    const headers = new Headers(request.headers);
    if (headers.get("authorization") === `Bearer ${NO_API_KEY}`) headers.delete("authorization");
    if (this.#o.apiKey && !headers.has("authorization")) headers.set("authorization", `Bearer ${this.#o.apiKey}`);
    const send = (payment?: string) => {
      const h = new Headers(headers);
      if (payment) h.set(Headers402.signature, payment);
      return this.#fetch(request.url, { method: request.method, headers: h, ...(body ? { body } : {}), signal: request.signal });
    };

    let res = await send();
    const deadline = Date.now() + (this.#o.channelWaitMs ?? 60_000);
    // A few rounds: the first 402 quotes; a second may correct our idea of the channel's charge
    // (a receipt we never saw), or wait for a channel the platform has not mirrored yet.
    for (let attempt = 0; res.status === 402 && attempt < 50; attempt++) {
      const quote = await readQuote(res);
      if (!quote) return res;
      const terms = quotedTerms(quote);
      if (!terms) return res; // not our scheme: hand the 402 to the caller
      const reason = quote.error ?? "payment-required";
      let channel = activeChannel(this.store, terms);
      if (terms.channel && channel && terms.channel.channelId.toLowerCase() === channel.channelId.toLowerCase() && terms.channel.charged > BigInt(channel.charged)) {
        // The platform's word on what the channel was charged wins over ours (it may know a charge whose receipt we lost).
        // Its deposit does not: its mirror may not have seen our last top-up yet.
        channel = this.#remember({ ...channel, charged: terms.channel.charged.toString() });
      }
      if (reason === "channel-closing" || reason === "channel-defaulted") {
        if (channel) this.#remember({ ...channel, retired: new Date().toISOString() });
        channel = undefined;
      }
      const covered = channel !== undefined && BigInt(channel.charged) + terms.amount <= BigInt(channel.deposit);
      // A channel just opened or funded that the platform's mirror has not seen yet: wait for it, do not pay twice.
      if (channel && (RETRYABLE_WAIT.has(reason) || (reason === "voucher-above-deposit" && covered))) {
        if (Date.now() > deadline) throw new PaymentError(`the platform has not seen channel ${channel.channelId} after ${this.#o.channelWaitMs ?? 60_000} ms`, reason, quote);
        await sleep(500);
      } else if (reason === "voucher-above-deposit") {
        // Not covered: topped up below.
      } else if (!["payment-required", "voucher-below-quote", "voucher-not-above-charged", "channel-closing", "channel-defaulted"].includes(reason)) {
        // A refusal retrying cannot mend (a bad signature, a wrong network): give the 402 to the caller.
        return res;
      }
      channel ??= await this.#open(terms);
      if (BigInt(channel.charged) + terms.amount > BigInt(channel.deposit)) channel = await this.#topUp(channel, terms);
      const payment = await this.#pay(channel, terms);
      await res.body?.cancel(); // the refused answer is done with: free its connection
      res = await send(payment);
    }
    return res.status === 402 ? res : this.#withReceipt(res);
  };

  /** The payment terms of `model`, from the quote of a one-token call (no payment is made). */
  async terms(model: string): Promise<PaymentTerms> {
    const res = await this.#fetch(`${this.#o.baseURL.replace(/\/$/, "")}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(this.#o.apiKey ? { authorization: `Bearer ${this.#o.apiKey}` } : {}) },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "?" }], max_tokens: 1 }),
    });
    const quote = res.status === 402 ? await readQuote(res) : undefined;
    const terms = quote ? quotedTerms(quote) : undefined;
    if (!terms) {
      await res.body?.cancel();
      throw new PaymentError(`${model} asks for no payment (HTTP ${res.status}): it is free or unknown`, "not-priced");
    }
    return terms;
  }

  /** Opens a channel for the terms of `model` and deposits `deposit`. */
  async openChannel(model: string, deposit = this.#o.deposit ?? 10_000_000n): Promise<StoredChannel> {
    return this.#open(await this.terms(model), deposit);
  }

  /** Adds `amount` to the active channel of `model`'s terms. */
  async fund(model: string, amount: bigint): Promise<StoredChannel> {
    const terms = await this.terms(model);
    const channel = activeChannel(this.store, terms);
    if (!channel) throw new PaymentError("no channel to fund: open one first", "no-channel");
    const hash = await this.#escrow(terms).deposit(channel.channelId, amount);
    this.#o.log?.(`deposited ${amount} on ${channel.channelId} (tx ${hash})`);
    return this.#remember({ ...channel, deposit: (BigInt(channel.deposit) + amount).toString() });
  }

  /** The active channel of `model`'s terms as this client and the chain see it. */
  async status(model: string): Promise<{ terms: PaymentTerms; channel?: StoredChannel; onChain?: OnChainChannel; balance?: bigint }> {
    const terms = await this.terms(model);
    const channel = activeChannel(this.store, terms);
    if (!this.#o.payer) return { terms, ...(channel ? { channel } : {}) };
    const escrow = this.#escrow(terms);
    const onChain = channel ? await escrow.channel(channel.channelId) : undefined;
    return { terms, ...(channel ? { channel } : {}), ...(onChain ? { onChain } : {}), balance: await escrow.balance() };
  }

  async #open(terms: PaymentTerms, deposit = this.#o.deposit ?? 10_000_000n): Promise<StoredChannel> {
    if (this.#o.autoOpen === false) throw new PaymentError("no open channel for this service, and opening one automatically is off (channel open)", "no-channel");
    const amount = deposit > terms.amount ? deposit : terms.amount;
    const key = Wallet.createRandom();
    const escrow = this.#escrow(terms);
    const { channelId, txHash } = await escrow.open(terms.service, key.address, amount);
    this.#o.log?.(`opened channel ${channelId} with ${amount} (tx ${txHash})`);
    return this.#remember({
      chainId: terms.chainId,
      escrow: terms.escrow,
      service: terms.service,
      asset: terms.asset,
      channelId,
      payer: await this.#o.payer!.getAddress(),
      signingKey: key.privateKey,
      deposit: amount.toString(),
      charged: "0",
      signed: "0",
      openedAt: new Date().toISOString(),
    });
  }

  async #topUp(channel: StoredChannel, terms: PaymentTerms): Promise<StoredChannel> {
    if (this.#o.autoOpen === false) throw new PaymentError(`channel ${channel.channelId} has too little left for this call: fund it (channel fund)`, "voucher-above-deposit");
    const need = BigInt(channel.charged) + terms.amount - BigInt(channel.deposit);
    const topUp = (this.#o.deposit ?? 10_000_000n) > need ? (this.#o.deposit ?? 10_000_000n) : need;
    const hash = await this.#escrow(terms).deposit(channel.channelId, topUp);
    this.#o.log?.(`deposited ${topUp} on ${channel.channelId} (tx ${hash})`);
    return this.#remember({ ...channel, deposit: (BigInt(channel.deposit) + topUp).toString() });
  }

  /** Signs the voucher for this call: what the channel was charged plus the most this call can cost. */
  async #pay(channel: StoredChannel, terms: PaymentTerms): Promise<string> {
    const cumulative = BigInt(channel.charged) + terms.amount;
    // An hour past the platform's settlement horizon: long enough to be redeemed, short enough to lapse.
    const expiry = terms.minExpiry + 3600;
    const key = new Wallet(channel.signingKey);
    const voucher = await signVoucher(key, voucherDomain(terms.chainId, terms.escrow), { channelId: channel.channelId, payer: channel.payer, service: terms.service, cumulativeAmount: cumulative, expiry });
    if (cumulative > BigInt(channel.signed)) this.#remember({ ...channel, signed: cumulative.toString() });
    return encodePaymentSignature(terms.requirement, voucherToJson(voucher), terms.resource);
  }

  #escrow(terms: PaymentTerms): EscrowClient {
    if (!this.#o.payer) throw new PaymentError("a payer key is needed to open or fund a channel", "no-payer");
    return new EscrowClient(this.#o.payer, terms.escrow, terms.asset);
  }

  #remember(channel: StoredChannel): StoredChannel {
    this.store.save(channel);
    return channel;
  }

  /** Reads the receipt: PAYMENT-RESPONSE of a JSON answer, or `payment` in a stream's chunks (passed through untouched). */
  #withReceipt(res: Response): Response {
    const header = res.headers.get(Headers402.response);
    if (header) {
      const r = decodePaymentResponseHeader(header) as unknown as { charged?: string; cumulativeCharged?: string; extra?: { channelId?: string; requestId?: string } };
      if (r.extra?.channelId && r.cumulativeCharged !== undefined) {
        this.#receipt({ requestId: r.extra.requestId ?? "", channelId: r.extra.channelId, charged: BigInt(r.charged ?? "0"), cumulativeCharged: BigInt(r.cumulativeCharged) });
      }
      return res;
    }
    if (!res.body || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) return res;
    const decoder = new TextDecoder();
    const parser = createParser({
      onEvent: (event) => {
        if (!event.data.includes('"payment"')) return;
        try {
          const p = (JSON.parse(event.data) as { payment?: { requestId: string; channelId: string | null; charged: string; cumulativeCharged: string | null } }).payment;
          if (p?.channelId && p.cumulativeCharged !== null) this.#receipt({ requestId: p.requestId, channelId: p.channelId, charged: BigInt(p.charged), cumulativeCharged: BigInt(p.cumulativeCharged) });
        } catch {
          // not JSON: not ours to judge, the caller's SSE reader will see it
        }
      },
    });
    const tap = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        controller.enqueue(chunk);
        parser.feed(decoder.decode(chunk, { stream: true }));
      },
    });
    return new Response(res.body.pipeThrough(tap), { status: res.status, statusText: res.statusText, headers: res.headers });
  }

  #receipt(r: Receipt): void {
    const channel = this.store.list().find((c) => c.channelId.toLowerCase() === r.channelId.toLowerCase());
    if (channel && r.cumulativeCharged > BigInt(channel.charged)) this.#remember({ ...channel, charged: r.cumulativeCharged.toString() });
    this.#o.onReceipt?.(r);
  }
}

async function readQuote(res: Response): Promise<PaymentRequired | undefined> {
  const header = res.headers.get(Headers402.required);
  try {
    if (header) return decodePaymentRequiredHeader(header);
    return (await res.clone().json()) as PaymentRequired;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
