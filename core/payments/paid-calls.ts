import type { PaymentRequired } from "@x402/core/types";
import type { Clock } from "../ports/clock.ts";
import { TransactionCanceledError } from "../errors.ts";
import type { TableStore } from "../ports/tables.ts";
import { channelFromItem, voucherToJson, type ChannelState, type Voucher } from "./channel.ts";
import { ChannelBusyError, type ChannelLocks } from "./channel-lock.ts";
import { ledgerWrite, readLedger, tryWriteLedger, type ChannelLedger } from "./channel-ledger.ts";
import { channelStateKey } from "./keys.ts";
import { callCost, maxCallCost, type Price, priceOnly } from "./prices.ts";
import { usageWrites, findUsage, type UsageRecord } from "./usage.ts";
import { checkVoucher, type VoucherRejection } from "./voucher-policy.ts";
import { encodePaymentRequired, encodePaymentResponse, Headers402, parsePaymentSignature, paymentRequired, type PaymentTerms } from "./x402.ts";

/**
 * A paid call's life on the service side: `authorizePayment` (402 with a
 * quote, or a grant holding the channel), the generation, then
 * `completePayment` (charge the actual cost, write the usage record, release
 * the channel) or `abandonPayment`. Free calls only `recordFreeCall`.
 */

export interface PaymentsDeps {
  /** The usage table (streamed): usage records, mirrored channels, ledgers. */
  usage: TableStore;
  clock: Clock;
  terms: PaymentTerms;
  /** Length of a settlement period, seconds (60 locally, 3600 on AWS). */
  epochSeconds: number;
  /** Recovers a voucher's signer under the escrow's EIP-712 domain (adapters/chain). */
  recoverSigner: (voucher: Voucher, expected?: string) => string | undefined;
  locks: ChannelLocks;
  /** How long a call waits for the earlier calls on its channel (default 30 s). */
  channelWaitMs?: number;
  /** How long a hold protects a call in flight before another process may take the channel over (default 10 min). */
  holdTtlMs?: number;
}

export interface CallTerms {
  requestId: string;
  price: Price;
  /** The call's `max_tokens` (after defaults): the most it can generate. */
  maxTokens: number;
  resource: { url: string; description: string; mimeType: string };
  /** The `PAYMENT-SIGNATURE` header, or null. */
  paymentHeader: string | null;
}

export interface PaymentGrant {
  requestId: string;
  channel: ChannelState;
  voucher: Voucher;
  price: Price;
  maxCost: bigint;
  /** The ledger as our hold left it. */
  ledger: ChannelLedger;
  release: () => void;
}

export type PaymentDecision =
  | { ok: true; grant: PaymentGrant }
  | { ok: false; status: 402; reason: VoucherRejection | "payment-required"; headers: Record<string, string>; body: PaymentRequired };

/** The period a moment falls in: settlement closes one period per epoch. */
export function periodOf(epochSeconds: number, ms: number): number {
  return Math.floor(ms / 1000 / epochSeconds);
}

/** Decides whether a call to a priced model may run: verifies the voucher off chain and holds the channel. */
export async function authorizePayment(deps: PaymentsDeps, call: CallTerms): Promise<PaymentDecision> {
  const maxCost = maxCallCost(call.price, call.maxTokens);
  const nowSeconds = Math.floor(deps.clock.now() / 1000);
  const refuse = (reason: VoucherRejection | "payment-required", detail?: string, channel?: { channelId: string; charged: bigint; deposit: bigint }): PaymentDecision => {
    const body = paymentRequired({ terms: deps.terms, error: reason, ...(detail ? { detail } : {}), resource: call.resource, price: call.price, maxTokens: call.maxTokens, amount: maxCost, nowSeconds, ...(channel ? { channel } : {}) });
    return { ok: false, status: 402, reason, headers: { [Headers402.required]: encodePaymentRequired(body), "cache-control": "no-store" }, body };
  };
  if (!call.paymentHeader) return refuse("payment-required", `this model costs up to ${maxCost} base units for ${call.maxTokens} tokens; pay with ${Headers402.signature}`);
  const parsed = parsePaymentSignature(call.paymentHeader);
  if (!parsed.ok) return refuse(parsed.reason, parsed.detail);
  const { voucher } = parsed;

  let release: () => void;
  try {
    release = await deps.locks.acquire(voucher.channelId, deps.channelWaitMs ?? 30_000);
  } catch (error) {
    if (error instanceof ChannelBusyError) return refuse("payment-required", "the channel is busy with earlier calls; retry");
    throw error;
  }
  try {
    const stateItem = await deps.usage.get(channelStateKey(voucher.channelId));
    const channel = stateItem ? channelFromItem(stateItem) : undefined;
    // Polls of another process's hold, 25 ms apart (counted, not timed: tests run on a fake clock).
    let polls = Math.ceil((deps.channelWaitMs ?? 30_000) / 25);
    for (;;) {
      const ledger = await readLedger(deps.usage, voucher.channelId);
      const now = deps.clock.now();
      if (ledger.hold && ledger.hold.until > now && ledger.hold.requestId !== call.requestId) {
        // Another process holds the channel for a call in flight.
        if (polls-- <= 0) {
          release();
          return refuse("payment-required", "the channel is busy with a call on another server; retry");
        }
        await new Promise((r) => setTimeout(r, 25));
        continue;
      }
      const check = checkVoucher({
        voucher,
        accepted: parsed.accepted,
        chainId: deps.terms.chainId,
        escrow: deps.terms.escrow,
        service: deps.terms.payTo,
        channel,
        charged: ledger.charged,
        defaulted: ledger.defaulted,
        maxCost,
        nowSeconds,
        horizonSeconds: deps.terms.horizonSeconds,
        recoverSigner: deps.recoverSigner,
      });
      if (!check.ok) {
        release();
        const charged = channel && ledger.charged < channel.redeemed ? channel.redeemed : ledger.charged;
        return refuse(check.reason, check.detail, channel ? { channelId: channel.channelId, charged, deposit: channel.deposit } : undefined);
      }
      const base = ledger.charged > channel!.redeemed ? ledger.charged : channel!.redeemed;
      const held = { ...ledger, charged: base, hold: { requestId: call.requestId, until: now + (deps.holdTtlMs ?? 600_000) } };
      if (!(await tryWriteLedger(deps.usage, ledger, held))) continue; // raced with another process: read again
      return { ok: true, grant: { requestId: call.requestId, channel: channel!, voucher, price: call.price, maxCost, ledger: { ...held, rev: ledger.rev + 1 }, release } };
    }
  } catch (error) {
    release();
    throw error;
  }
}

/** What the generation did; the basis of the charge. */
export interface CallOutcome {
  adapterId: string;
  baseModel: string;
  owner: string | null;
  promptTokens: number;
  /** Completion tokens delivered to the caller (for a cut-off stream: those sent before it stopped). */
  completionTokens: number;
  finishReason: UsageRecord["finishReason"];
  attribution: UsageRecord["attribution"];
}

/** What a call is charged: nothing when it failed or delivered no token, else per call + the tokens delivered (never above the quote). */
export function chargeFor(price: Price, maxCost: bigint, outcome: Pick<CallOutcome, "completionTokens" | "finishReason">): bigint {
  if (outcome.finishReason === "error") return 0n;
  if (outcome.finishReason === "cancelled" && outcome.completionTokens === 0) return 0n;
  const cost = callCost(price, outcome.completionTokens);
  return cost < maxCost ? cost : maxCost;
}

/**
 * Charges a granted call its actual cost, writes its usage record (once per
 * request id: a repeat changes nothing) and releases the channel. Returns the
 * record and the `PAYMENT-RESPONSE` header.
 */
export async function completePayment(deps: PaymentsDeps, grant: PaymentGrant, outcome: CallOutcome): Promise<{ record: UsageRecord; headers: Record<string, string> }> {
  try {
    const existing = await findUsage(deps.usage, grant.requestId);
    if (existing) return { record: existing, headers: receiptHeaders(deps, existing) };
    const cost = chargeFor(grant.price, grant.maxCost, outcome);
    const ledger = grant.ledger;
    const charged = ledger.charged + cost;
    const seq = cost > 0n ? ledger.seq + 1 : ledger.seq;
    const now = deps.clock.now();
    const record: UsageRecord = {
      requestId: grant.requestId,
      adapterId: outcome.adapterId,
      baseModel: outcome.baseModel,
      owner: outcome.owner,
      payer: grant.channel.payer,
      channelId: grant.channel.channelId,
      promptTokens: outcome.promptTokens,
      completionTokens: outcome.completionTokens,
      finishReason: outcome.finishReason,
      price: priceOnly(grant.price),
      charged: cost.toString(),
      maxCost: grant.maxCost.toString(),
      cumulativeCharged: charged.toString(),
      seq: cost > 0n ? seq : null,
      voucher: voucherToJson(grant.voucher),
      attribution: outcome.attribution,
      period: periodOf(deps.epochSeconds, now),
      createdAt: new Date(now).toISOString(),
    };
    const next = { ...ledger, charged, seq, voucher: cost > 0n ? grant.voucher : ledger.voucher, hold: null };
    try {
      await deps.usage.transact([...usageWrites(record), ledgerWrite(ledger, next)]);
    } catch (error) {
      if (!(error instanceof TransactionCanceledError)) throw error;
      const again = await findUsage(deps.usage, grant.requestId);
      if (again) return { record: again, headers: receiptHeaders(deps, again) };
      // Our hold was taken over (this call outlived it): record the call, charge nothing.
      const uncharged: UsageRecord = { ...record, charged: "0", cumulativeCharged: null, seq: null };
      await deps.usage.transact(usageWrites(uncharged));
      return { record: uncharged, headers: receiptHeaders(deps, uncharged) };
    }
    return { record, headers: receiptHeaders(deps, record) };
  } finally {
    grant.release();
  }
}

/** Releases a granted call that never ran (refused later, or the server gave up): nothing is charged. */
export async function abandonPayment(deps: PaymentsDeps, grant: PaymentGrant): Promise<void> {
  try {
    await tryWriteLedger(deps.usage, grant.ledger, { ...grant.ledger, hold: null });
  } finally {
    grant.release();
  }
}

/** Records a free call (price 0, any signed-in key); nothing is charged, the record is written once. */
export async function recordFreeCall(deps: Pick<PaymentsDeps, "usage" | "clock" | "epochSeconds">, requestId: string, payer: string, price: Price, outcome: CallOutcome): Promise<UsageRecord> {
  const now = deps.clock.now();
  const record: UsageRecord = {
    requestId,
    adapterId: outcome.adapterId,
    baseModel: outcome.baseModel,
    owner: outcome.owner,
    payer,
    channelId: null,
    promptTokens: outcome.promptTokens,
    completionTokens: outcome.completionTokens,
    finishReason: outcome.finishReason,
    price: priceOnly(price),
    charged: "0",
    maxCost: null,
    cumulativeCharged: null,
    seq: null,
    voucher: null,
    attribution: outcome.attribution,
    period: periodOf(deps.epochSeconds, now),
    createdAt: new Date(now).toISOString(),
  };
  try {
    await deps.usage.transact(usageWrites(record));
  } catch (error) {
    if (!(error instanceof TransactionCanceledError)) throw error;
    return (await findUsage(deps.usage, requestId)) ?? record;
  }
  return record;
}

function receiptHeaders(deps: PaymentsDeps, r: UsageRecord): Record<string, string> {
  return {
    [Headers402.response]: encodePaymentResponse({
      success: true,
      payer: r.payer,
      charged: BigInt(r.charged),
      cumulativeCharged: BigInt(r.cumulativeCharged ?? "0"),
      chainId: deps.terms.chainId,
      channelId: r.channelId ?? "",
      requestId: r.requestId,
    }),
  };
}
