import { ConditionFailedError, TransactionCanceledError } from "../errors.ts";
import type { EscrowEvent, EscrowEventSource } from "../ports/escrow-events.ts";
import type { TableStore, WriteOp } from "../ports/tables.ts";
import { channelFromItem, channelToItem, type ChannelState } from "./channel.ts";
import { channelStateKey, closingKey, MIRROR_CURSOR_KEY } from "./keys.ts";

/**
 * Mirrors PaymentEscrow's channels into the usage table from its events
 * (chain-events: a timer locally, a schedule on AWS). Each channel item
 * remembers the last event applied, so events read twice (a crash between
 * applying and moving the cursor) change nothing.
 */
export async function mirrorChannels(usage: TableStore, source: EscrowEventSource): Promise<{ applied: number; nextBlock: number }> {
  const cursor = await usage.get(MIRROR_CURSOR_KEY);
  const from = (cursor?.nextBlock as number | undefined) ?? source.fromBlock;
  const { events, nextBlock } = await source.read(from);
  let applied = 0;
  for (const e of events) if (await applyEscrowEvent(usage, e)) applied++;
  if (nextBlock > from) {
    try {
      await usage.put({ ...MIRROR_CURSOR_KEY, kind: "mirror", nextBlock }, cursor ? { equals: { nextBlock: from } } : { notExists: true });
    } catch (error) {
      // Another mirror moved it: fine, both applied the same events.
      if (!(error instanceof ConditionFailedError)) throw error;
    }
  }
  return { applied, nextBlock };
}

/** Applies one event to its channel; false when it was applied already (or is older than the state). */
export async function applyEscrowEvent(usage: TableStore, e: EscrowEvent): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const item = await usage.get(channelStateKey(e.channelId));
    const current = item ? channelFromItem(item) : undefined;
    if (current && (e.block < current.block || (e.block === current.block && e.logIndex <= current.logIndex))) return false;
    const next = nextState(current, e);
    if (!next) return false;
    const state: WriteOp = { put: { ...channelStateKey(e.channelId), kind: "channel", ...channelToItem(next) }, condition: item ? { equals: { block: current!.block, logIndex: current!.logIndex } } : { notExists: true } };
    try {
      // In the same transaction: the CLOSING marker of a pending withdrawal, which early redemption watches.
      await usage.transact([state, ...closingMarkerWrites(current, next)]);
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledError)) throw error;
    }
  }
  throw new Error(`channel ${e.channelId}: too many concurrent mirror writes`);
}

/** A pending withdrawal is marked under CLOSING by when it can be taken; a new request moves the marker, the end of one removes it. */
function closingMarkerWrites(before: ChannelState | undefined, after: ChannelState): WriteOp[] {
  const was = before?.withdrawal?.availableAt;
  const is = after.withdrawal?.availableAt;
  if (was === is) return [];
  const ops: WriteOp[] = [];
  if (was !== undefined) ops.push({ delete: closingKey(was, after.channelId) });
  if (is !== undefined) ops.push({ put: { ...closingKey(is, after.channelId), kind: "closing", channelId: after.channelId, availableAt: is } });
  return ops;
}

function nextState(c: ChannelState | undefined, e: EscrowEvent): ChannelState | undefined {
  const at = { block: e.block, logIndex: e.logIndex };
  if (e.type === "opened") {
    return { channelId: e.channelId.toLowerCase(), payer: e.payer, signer: e.signer, service: e.service, deposit: 0n, redeemed: 0n, withdrawal: null, ...at };
  }
  if (!c) return undefined; // an event of a channel opened before the mirror started: ignore (cannot happen from the deployment block)
  switch (e.type) {
    case "deposited":
      return { ...c, deposit: e.deposit, ...at };
    case "redeemed":
      return { ...c, redeemed: e.redeemed, ...at };
    case "withdrawal-requested":
      return { ...c, withdrawal: { amount: e.amount, availableAt: e.withdrawableAt }, ...at };
    case "withdrawal-cancelled":
      return { ...c, withdrawal: null, ...at };
    case "withdrawn":
      return { ...c, deposit: c.deposit - e.amount, withdrawal: null, ...at };
  }
}
