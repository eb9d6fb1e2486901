import { decodePaymentRequiredHeader } from "@x402/core/http";
import type { PaymentRequired } from "@x402/core/types";
import { Contract, hexlify, randomBytes, Wallet, type Signer } from "ethers";
import { signVoucher, voucherDomain } from "../../../adapters/chain/voucher.ts";
import { voucherToJson } from "../../../core/payments/channel.ts";
import { encodePaymentSignature, Headers402, quotedTerms, type QuotedTerms } from "../../../core/payments/x402.ts";

/**
 * Paying per call from the browser (x402 v2, scheme `escrow-voucher`): read a
 * 402's quote, open and fund a PaymentEscrow channel with the account's
 * wallet (the payer) and a fresh signing key kept in this browser (the
 * channel's voucher key, as the escrow allows), then sign one cumulative
 * EIP-712 voucher per call: what the channel was charged so far plus the most
 * this call can cost. The same protocol as the Node client in client/, which
 * reads and writes files and so cannot come into a page.
 */

/** Payment terms of a priced model, from its quote, and why the quote came. */
export interface QuoteTerms extends QuotedTerms {
  /** `payment-required` for a first ask, or what was wrong with a voucher. */
  reason: string;
}

/** A channel this browser opened: enough to sign its vouchers and to know what is left. */
export interface BrowserChannel {
  chainId: number;
  escrow: string;
  service: string;
  asset: string;
  channelId: string;
  payer: string;
  /** The channel's voucher key (never the wallet's): it can only sign vouchers on this one channel. */
  signingKey: string;
  /** Deposit and what the platform charged, in base units (decimal strings). */
  deposit: string;
  charged: string;
  openedTx: string;
}

/** The quote of a 402, from its PAYMENT-REQUIRED header (or its body); undefined when it is not ours. */
export async function readQuote(res: Response): Promise<QuoteTerms | undefined> {
  let quote: PaymentRequired | undefined;
  try {
    const header = res.headers.get(Headers402.required);
    quote = header ? decodePaymentRequiredHeader(header) : ((await res.clone().json()) as PaymentRequired);
  } catch {
    return undefined;
  }
  const terms = quotedTerms(quote);
  return terms && { ...terms, reason: quote.error ?? "payment-required" };
}

/** Channels by payer, in this browser's localStorage (the signing keys are worth at most the channel's deposit). */
export class ChannelBook {
  readonly #storage: Storage;
  readonly #key: string;

  constructor(payer: string, storage: Storage = localStorage) {
    this.#storage = storage;
    this.#key = `mf.channels.${payer.toLowerCase()}`;
  }

  list(): BrowserChannel[] {
    try {
      const raw = JSON.parse(this.#storage.getItem(this.#key) ?? "[]") as unknown;
      return Array.isArray(raw) ? (raw as BrowserChannel[]) : [];
    } catch {
      return [];
    }
  }

  /** The channel for these terms (same chain, escrow, service and token), newest first. */
  find(terms: Pick<QuoteTerms, "chainId" | "escrow" | "service" | "asset">): BrowserChannel | undefined {
    const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
    return this.list().reverse().find((c) => c.chainId === terms.chainId && same(c.escrow, terms.escrow) && same(c.service, terms.service) && same(c.asset, terms.asset));
  }

  save(channel: BrowserChannel): BrowserChannel {
    const rest = this.list().filter((c) => c.channelId.toLowerCase() !== channel.channelId.toLowerCase());
    this.#storage.setItem(this.#key, JSON.stringify([...rest, channel]));
    return channel;
  }
}

const TOKEN_ABI = [
  "function approve(address spender, uint256 amount) returns (bool)",
  "function balanceOf(address account) view returns (uint256)",
  // TestToken only (local and test chains): anyone may mint.
  "function mint(address to, uint256 amount)",
];
const ESCROW_ABI = [
  "function channelIdOf(address payer, address service, bytes32 salt) pure returns (bytes32)",
  "function open(address service, address signer, bytes32 salt, uint256 amount) returns (bytes32)",
  "function deposit(bytes32 channelId, uint256 amount)",
];

type Tx = { hash: string; wait(): Promise<unknown> };

/**
 * Opens a channel to the quote's service with `deposit` from `payer`
 * (approve, then open), after minting test tokens first where `mintIfShort`
 * (the local chain's TestToken) and the balance is short.
 */
export async function openChannel(payer: Signer, terms: QuoteTerms, deposit: bigint, book: ChannelBook, mintIfShort: boolean): Promise<BrowserChannel> {
  const amount = deposit > terms.amount ? deposit : terms.amount;
  const address = await payer.getAddress();
  const token = new Contract(terms.asset, TOKEN_ABI, payer);
  const escrow = new Contract(terms.escrow, ESCROW_ABI, payer);
  if (mintIfShort && (await token.getFunction("balanceOf")(address)) < amount) await ((await token.getFunction("mint")(address, amount)) as Tx).wait();
  await ((await token.getFunction("approve")(terms.escrow, amount)) as Tx).wait();
  const salt = hexlify(randomBytes(32));
  const channelId = ((await escrow.getFunction("channelIdOf")(address, terms.service, salt)) as string).toLowerCase();
  const key = Wallet.createRandom();
  const tx = (await escrow.getFunction("open")(terms.service, key.address, salt, amount)) as Tx;
  await tx.wait();
  return book.save({ chainId: terms.chainId, escrow: terms.escrow, service: terms.service, asset: terms.asset, channelId, payer: address, signingKey: key.privateKey, deposit: amount.toString(), charged: "0", openedTx: tx.hash });
}

/** Adds `amount` to the channel's deposit (approve, then deposit). */
export async function fundChannel(payer: Signer, channel: BrowserChannel, amount: bigint, book: ChannelBook, mintIfShort: boolean): Promise<BrowserChannel> {
  const address = await payer.getAddress();
  const token = new Contract(channel.asset, TOKEN_ABI, payer);
  const escrow = new Contract(channel.escrow, ESCROW_ABI, payer);
  if (mintIfShort && (await token.getFunction("balanceOf")(address)) < amount) await ((await token.getFunction("mint")(address, amount)) as Tx).wait();
  await ((await token.getFunction("approve")(channel.escrow, amount)) as Tx).wait();
  await ((await escrow.getFunction("deposit")(channel.channelId, amount)) as Tx).wait();
  return book.save({ ...channel, deposit: (BigInt(channel.deposit) + amount).toString() });
}

/** The PAYMENT-SIGNATURE header for one call: a voucher for what the channel was charged plus the most the call can cost. */
export async function paymentFor(channel: BrowserChannel, terms: QuoteTerms): Promise<string> {
  const cumulative = BigInt(channel.charged) + terms.amount;
  // An hour past the platform's settlement horizon: long enough to be redeemed, short enough to lapse.
  const expiry = terms.minExpiry + 3600;
  const voucher = await signVoucher(new Wallet(channel.signingKey), voucherDomain(terms.chainId, terms.escrow), {
    channelId: channel.channelId, payer: channel.payer, service: terms.service, cumulativeAmount: cumulative, expiry,
  });
  return encodePaymentSignature(terms.requirement, voucherToJson(voucher), terms.resource);
}

/** A call's receipt (the stream's last chunk): moves the channel's charge forward. */
export function applyReceipt(book: ChannelBook, receipt: { channelId: string | null; cumulativeCharged: string | null }): BrowserChannel | undefined {
  const channel = book.list().find((c) => c.channelId.toLowerCase() === receipt.channelId?.toLowerCase());
  if (!channel || receipt.cumulativeCharged === null || BigInt(receipt.cumulativeCharged) <= BigInt(channel.charged)) return channel;
  return book.save({ ...channel, charged: receipt.cumulativeCharged });
}

/** What a 402's reason means, for a person. */
export function explain402(reason: string): string {
  switch (reason) {
    case "payment-required":
      return "This adapter is priced: each call must carry a signed voucher on a payment channel (x402). The voucher promises at most the quoted amount; the platform charges what the call really cost.";
    case "voucher-unknown-channel":
      return "The platform has not seen the channel yet (it mirrors the escrow's events a second or so after they are mined).";
    case "voucher-above-deposit":
      return "The channel's deposit is too small for this call: fund it.";
    case "voucher-below-quote":
    case "voucher-not-above-charged":
      return "The voucher did not cover what the channel was charged plus this call; a new one is signed from the platform's figures.";
    case "channel-closing":
    case "channel-defaulted":
      return "This channel is being withdrawn and takes no more calls: open a new one.";
    default:
      return `The platform refused the payment (${reason}).`;
  }
}
