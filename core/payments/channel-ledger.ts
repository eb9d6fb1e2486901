import { ConditionFailedError } from "../errors.ts";
import type { Item, TableStore } from "../ports/tables.ts";
import { VoucherJson, voucherFromJson, voucherToJson, type Voucher } from "./channel.ts";
import { channelLedgerKey } from "./keys.ts";

/**
 * What this platform charged on one channel: the cumulative total, the latest
 * voucher (the one settlement redeems), and the call in flight. The hold is
 * the cross-process half of per-channel serialisation: a call writes it with
 * optimistic concurrency (`rev`) before it runs and clears it when it is
 * charged, so a second process cannot spend the same headroom meanwhile; a
 * hold past `until` (its process died) may be taken over.
 */
export interface ChannelLedger {
  channelId: string;
  charged: bigint;
  /** Number of charges so far (each charged call's `seq`). */
  seq: number;
  voucher: Voucher | null;
  hold: { requestId: string; until: number } | null;
  /** Settlement could not redeem on this channel: stop serving it. */
  defaulted: boolean;
  /** Optimistic-concurrency revision; 0 when the item does not exist yet. */
  rev: number;
}

export function emptyLedger(channelId: string): ChannelLedger {
  return { channelId, charged: 0n, seq: 0, voucher: null, hold: null, defaulted: false, rev: 0 };
}

export async function readLedger(usage: TableStore, channelId: string): Promise<ChannelLedger> {
  const item = await usage.get(channelLedgerKey(channelId));
  if (!item) return emptyLedger(channelId);
  return {
    channelId,
    charged: BigInt(item.charged as string),
    seq: item.seq as number,
    voucher: item.voucher ? voucherFromJson(VoucherJson.parse(item.voucher)) : null,
    hold: (item.hold as ChannelLedger["hold"]) ?? null,
    defaulted: item.defaulted === true,
    rev: item.rev as number,
  };
}

/** The conditional put that moves the ledger from `from` to `to` (rev + 1). */
export function ledgerWrite(from: ChannelLedger, to: Omit<ChannelLedger, "rev">) {
  const item: Item = {
    ...channelLedgerKey(from.channelId),
    kind: "ledger",
    channelId: from.channelId,
    charged: to.charged.toString(),
    seq: to.seq,
    voucher: to.voucher ? voucherToJson(to.voucher) : null,
    hold: to.hold,
    defaulted: to.defaulted,
    rev: from.rev + 1,
  };
  return { put: item, condition: from.rev === 0 ? ({ notExists: true } as const) : { equals: { rev: from.rev } } };
}

/** Writes a ledger change; false when another writer got there first (read again and retry). */
export async function tryWriteLedger(usage: TableStore, from: ChannelLedger, to: Omit<ChannelLedger, "rev">): Promise<boolean> {
  const w = ledgerWrite(from, to);
  try {
    await usage.put(w.put, w.condition);
    return true;
  } catch (error) {
    if (error instanceof ConditionFailedError) return false;
    throw error;
  }
}
