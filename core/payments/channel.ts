import { z } from "zod";
import { AddressSchema } from "../account.ts";

/**
 * A payment channel of PaymentEscrow as this platform mirrors it from the
 * chain's events (chain-events), so that checking a voucher needs no RPC.
 */
export interface ChannelState {
  channelId: string;
  payer: string;
  /** The plain key the channel committed to; vouchers must be signed by it (the payer itself on older escrows). */
  signer: string;
  service: string;
  /** Token base units deposited in total, and redeemed by the service so far. */
  deposit: bigint;
  redeemed: bigint;
  /** A pending withdrawal: the amount it locks and when (unix seconds) it can be carried out. */
  withdrawal: { amount: bigint; availableAt: number } | null;
  /** Block of the last event applied (mirrors apply events in order, and only newer ones). */
  block: number;
  logIndex: number;
}

/** A voucher as the payer signed it: the cumulative amount the service may redeem on the channel. */
export interface Voucher {
  channelId: string;
  payer: string;
  service: string;
  cumulativeAmount: bigint;
  /** Unix seconds after which the escrow refuses it. */
  expiry: number;
  signature: string;
}

const Hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x and 64 hex digits");

/** A signed voucher as it travels in JSON (amounts as decimal strings). */
export const VoucherJson = z.strictObject({
  channelId: Hex32,
  payer: AddressSchema,
  service: AddressSchema,
  cumulativeAmount: z.string().regex(/^(0|[1-9][0-9]{0,76})$/, "must be a non-negative decimal integer"),
  expiry: z.number().int().positive().max(2 ** 48),
  signature: z.string().regex(/^0x([0-9a-fA-F]{2}){64,65}$/, "must be a 0x-prefixed 64- or 65-byte signature"),
});
export type VoucherJson = z.infer<typeof VoucherJson>;

export function voucherFromJson(j: VoucherJson): Voucher {
  return { ...j, channelId: j.channelId.toLowerCase(), cumulativeAmount: BigInt(j.cumulativeAmount) };
}

export function voucherToJson(v: Voucher): VoucherJson {
  return { channelId: v.channelId, payer: v.payer, service: v.service, cumulativeAmount: v.cumulativeAmount.toString(), expiry: v.expiry, signature: v.signature };
}

/** Channel state as a table item value (bigints as strings). */
export function channelToItem(c: ChannelState): Record<string, unknown> {
  return {
    channelId: c.channelId,
    payer: c.payer,
    signer: c.signer,
    service: c.service,
    deposit: c.deposit.toString(),
    redeemed: c.redeemed.toString(),
    withdrawal: c.withdrawal ? { amount: c.withdrawal.amount.toString(), availableAt: c.withdrawal.availableAt } : null,
    block: c.block,
    logIndex: c.logIndex,
  };
}

export function channelFromItem(item: Record<string, unknown>): ChannelState {
  const w = item.withdrawal as { amount: string; availableAt: number } | null | undefined;
  return {
    channelId: item.channelId as string,
    payer: item.payer as string,
    signer: (item.signer as string | undefined) ?? (item.payer as string),
    service: item.service as string,
    deposit: BigInt(item.deposit as string),
    redeemed: BigInt(item.redeemed as string),
    withdrawal: w ? { amount: BigInt(w.amount), availableAt: w.availableAt } : null,
    block: item.block as number,
    logIndex: item.logIndex as number,
  };
}
