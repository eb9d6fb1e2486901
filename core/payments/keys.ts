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
 *   CLOSING                  {availableAt}#{channelId}   a channel with a pending withdrawal, by when it can be taken
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
/** Unix seconds padded so that sort keys order by time (12 digits: past the year 33000). */
const padSeconds = (s: number) => String(Math.max(0, Math.floor(s))).padStart(12, "0");
export const CLOSING_PK = "CLOSING";
export const closingKey = (availableAt: number, channelId: string): Key => ({ pk: CLOSING_PK, sk: `${padSeconds(availableAt)}#${channelId.toLowerCase()}` });
/** Sort keys of markers whose withdrawal is possible at or before `seconds`. */
export const closingUpTo = (seconds: number): [string, string] => [padSeconds(0), `${padSeconds(seconds)}#~`];
