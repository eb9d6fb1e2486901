import { decodePaymentSignatureHeader, encodePaymentRequiredHeader, encodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse } from "@x402/core/types";
import { z } from "zod";
import { VoucherJson, voucherFromJson, type Voucher } from "./channel.ts";
import type { Price } from "./prices.ts";
import { VoucherRejections, type VoucherRejection } from "./voucher-policy.ts";

/**
 * The x402 v2 envelope of our payment scheme: the 402 quote
 * (`PAYMENT-REQUIRED`), the payer's `PAYMENT-SIGNATURE` carrying an EIP-712
 * cumulative voucher against PaymentEscrow, and `PAYMENT-RESPONSE`. The
 * header encoding and the types are @x402/core's; the scheme is ours.
 */

/** Our scheme: an "upto" cumulative voucher on an escrow channel (x402's batch-settlement idea). */
export const SCHEME = "escrow-voucher";
export const X402_VERSION = 2;
export const Headers402 = { required: "PAYMENT-REQUIRED", signature: "PAYMENT-SIGNATURE", response: "PAYMENT-RESPONSE" } as const;

/** What a quote needs to know about this deployment. */
export interface PaymentTerms {
  chainId: number;
  escrow: string;
  /** ERC-20 the escrow holds. */
  asset: string;
  /** The service address channels must name (the redeemer). */
  payTo: string;
  /** Vouchers must not expire before now + this (the settlement horizon). */
  horizonSeconds: number;
  /** How long the client has to send the paid request. */
  maxTimeoutSeconds: number;
}

export interface QuoteInput {
  terms: PaymentTerms;
  /** `error` of the 402: a rejection code, or "payment-required" when none was sent. */
  error: VoucherRejection | "payment-required";
  detail?: string;
  resource: { url: string; description: string; mimeType: string };
  price: Price;
  maxTokens: number;
  /** The most this call can cost. */
  amount: bigint;
  nowSeconds: number;
  /** Where the client's channel stands here, when it named one: what it must sign above. */
  channel?: { channelId: string; charged: bigint; deposit: bigint };
}

/** The 402 body (and, base64, the `PAYMENT-REQUIRED` header). */
export function paymentRequired(q: QuoteInput): PaymentRequired {
  const requirement: PaymentRequirements = {
    scheme: SCHEME,
    network: `eip155:${q.terms.chainId}`,
    amount: q.amount.toString(),
    asset: q.terms.asset,
    payTo: q.terms.payTo,
    maxTimeoutSeconds: q.terms.maxTimeoutSeconds,
    extra: {
      escrow: q.terms.escrow,
      name: "PaymentEscrow",
      version: "1",
      primaryType: "Voucher",
      // Sign cumulativeAmount ≥ (charged on your channel) + amount; only the actual cost is charged.
      cumulative: true,
      minExpiry: q.nowSeconds + q.terms.horizonSeconds,
      price: q.price,
      maxTokens: q.maxTokens,
      ...(q.detail ? { detail: q.detail } : {}),
      ...(q.channel ? { channel: { channelId: q.channel.channelId, charged: q.channel.charged.toString(), deposit: q.channel.deposit.toString() } } : {}),
    },
  };
  return { x402Version: X402_VERSION, error: q.error, resource: q.resource, accepts: [requirement] };
}

export function encodePaymentRequired(body: PaymentRequired): string {
  return encodePaymentRequiredHeader(body);
}

/** The payload inside `PAYMENT-SIGNATURE` for our scheme. */
const OurPayload = z.object({ voucher: VoucherJson });

const Accepted = z.object({
  scheme: z.string(),
  network: z.string(),
  extra: z.object({ escrow: z.string() }).loose(),
}).loose();

export type ParsedPayment =
  | { ok: true; voucher: Voucher; accepted: { network: string; escrow: string } }
  | { ok: false; reason: VoucherRejection; detail: string };

/** Decodes and validates a `PAYMENT-SIGNATURE` header; nothing here is trusted yet (see checkVoucher). */
export function parsePaymentSignature(header: string): ParsedPayment {
  let payload: PaymentPayload;
  try {
    payload = decodePaymentSignatureHeader(header.trim());
  } catch (error) {
    return { ok: false, reason: VoucherRejections.malformed, detail: `PAYMENT-SIGNATURE is not base64 JSON: ${(error as Error).message}` };
  }
  if (payload === null || typeof payload !== "object" || payload.x402Version !== X402_VERSION) {
    return { ok: false, reason: VoucherRejections.malformed, detail: `x402Version must be ${X402_VERSION}` };
  }
  const accepted = Accepted.safeParse(payload.accepted);
  if (!accepted.success) return { ok: false, reason: VoucherRejections.malformed, detail: "`accepted` must repeat the requirement paid for (scheme, network, extra.escrow)" };
  if (accepted.data.scheme !== SCHEME) return { ok: false, reason: VoucherRejections.wrongScheme, detail: `only the ${SCHEME} scheme is accepted, not ${accepted.data.scheme}` };
  const ours = OurPayload.safeParse(payload.payload);
  if (!ours.success) {
    return { ok: false, reason: VoucherRejections.malformed, detail: ours.error.issues.map((i) => `payload.${i.path.join(".")}: ${i.message}`).join("; ") };
  }
  return { ok: true, voucher: voucherFromJson(ours.data.voucher), accepted: { network: accepted.data.network, escrow: accepted.data.extra.escrow } };
}

/** Builds the `PAYMENT-SIGNATURE` header a client sends (used by the paying client and tests). */
export function encodePaymentSignature(accepted: PaymentRequirements, voucher: VoucherJson, resource?: PaymentRequired["resource"]): string {
  const payload: PaymentPayload = { x402Version: X402_VERSION, accepted, payload: { voucher }, ...(resource ? { resource } : {}) };
  return encodePaymentSignatureHeader(payload);
}

/** The `PAYMENT-RESPONSE` of a paid call: what was charged, and the channel's new cumulative total. */
export interface PaymentReceipt {
  success: boolean;
  payer: string;
  charged: bigint;
  cumulativeCharged: bigint;
  chainId: number;
  channelId: string;
  requestId: string;
}

export function encodePaymentResponse(r: PaymentReceipt): string {
  const body: SettleResponse & Record<string, unknown> = {
    success: r.success,
    payer: r.payer,
    // No transaction per call: the charge is redeemed at the epoch's settlement.
    transaction: "",
    network: `eip155:${r.chainId}`,
    amount: r.charged.toString(),
    charged: r.charged.toString(),
    cumulativeCharged: r.cumulativeCharged.toString(),
    extra: { channelId: r.channelId, requestId: r.requestId },
  };
  return encodePaymentResponseHeader(body);
}

/** What a payer needs from a 402 quote of our scheme. */
export interface QuotedTerms {
  chainId: number;
  escrow: string;
  asset: string;
  service: string;
  requirement: PaymentRequirements;
  resource: PaymentRequired["resource"];
  /** The most the quoted call can cost, base units. */
  amount: bigint;
  /** A voucher must not expire before this (unix seconds). */
  minExpiry: number;
  /** Where the platform says the payer's channel stands (when the call named one). */
  channel?: { channelId: string; charged: bigint; deposit: bigint };
}

/** The quote's offer in our scheme, read for a payer (the Node client and the browser's); undefined when it has none. */
export function quotedTerms(quote: PaymentRequired): QuotedTerms | undefined {
  const r = quote.accepts?.find((a) => a.scheme === SCHEME);
  const network = r ? /^eip155:(\d+)$/.exec(r.network) : null;
  const extra = r?.extra as { escrow?: string; minExpiry?: number; channel?: { channelId: string; charged: string; deposit: string } } | undefined;
  if (!r || !network || !extra?.escrow || typeof extra.minExpiry !== "number") return undefined;
  return {
    chainId: Number(network[1]),
    escrow: extra.escrow,
    asset: r.asset,
    service: r.payTo,
    requirement: r,
    resource: quote.resource,
    amount: BigInt(r.amount),
    minExpiry: extra.minExpiry,
    ...(extra.channel ? { channel: { channelId: extra.channel.channelId, charged: BigInt(extra.channel.charged), deposit: BigInt(extra.channel.deposit) } } : {}),
  };
}
