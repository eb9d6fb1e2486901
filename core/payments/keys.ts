import type { Key } from "../ports/tables.ts";

/**
 * Items of the usage table (streamed): usage records, their per-payer copies,
 * mirrored channels and the platform's charge ledger per channel.
 *
 *   USAGE#{requestId}        RECORD        the usage record; gsi1 USAGE_OWNER#{owner} / {adapterId}#{createdAt}#{requestId}
 *   USAGE_PAYER#{payer}      {createdAt}#{requestId}   a copy for the payer's listing
 *   CHANNEL#{channelId}      STATE         the channel as mirrored from chain events
 *   CHANNEL#{channelId}      LEDGER        cumulative charged, the latest voucher, the call in flight
 *   MIRROR                   ESCROW        the chain-event mirror's cursor
 */
export const usageKey = (requestId: string): Key => ({ pk: `USAGE#${requestId}`, sk: "RECORD" });
export const payerUsageKey = (payer: string, createdAt: string, requestId: string): Key => ({ pk: `USAGE_PAYER#${payer}`, sk: `${createdAt}#${requestId}` });
export const ownerUsageIndex = (owner: string, adapterId: string, createdAt: string, requestId: string) => ({
  gsi1pk: `USAGE_OWNER#${owner}`,
  gsi1sk: `${adapterId}#${createdAt}#${requestId}`,
});
export const channelStateKey = (channelId: string): Key => ({ pk: `CHANNEL#${channelId.toLowerCase()}`, sk: "STATE" });
export const channelLedgerKey = (channelId: string): Key => ({ pk: `CHANNEL#${channelId.toLowerCase()}`, sk: "LEDGER" });
export const MIRROR_CURSOR_KEY: Key = { pk: "MIRROR", sk: "ESCROW" };
