import type { Key } from "../ports/tables.ts";

/**
 * Settlement's items in the usage table.
 *
 *   CALLREF#{requestId}   CALL         a charged call assigned to its period; gsi1 PERIOD#{p} / {requestId}
 *   PERIODS               {p}          marks a period that has calls (settlement skips empty ones)
 *   SETTLEMENT#{p}        STATE        the period's settlement: frozen → redeeming → publishing → done
 *   SETTLEMENT            CURSOR       the lowest period not settled yet
 *   SETTLEMENT            LEASE        one settlement at a time
 *   EARN#{account}        P#{p}#{requestId}   an account's share of one call (pending until its period is published)
 *   REWARD#{account}      P#{p}        an account's reward of a published period, with its proof
 */
export const pad = (p: number) => String(p).padStart(12, "0");
export const callRefKey = (requestId: string): Key => ({ pk: `CALLREF#${requestId}`, sk: "CALL" });
export const periodIndex = (period: number, requestId: string) => ({ gsi1pk: `PERIOD#${pad(period)}`, gsi1sk: requestId });
export const periodMarkerKey = (period: number): Key => ({ pk: "PERIODS", sk: pad(period) });
export const settlementKey = (period: number): Key => ({ pk: `SETTLEMENT#${pad(period)}`, sk: "STATE" });
export const SETTLEMENT_CURSOR: Key = { pk: "SETTLEMENT", sk: "CURSOR" };
export const SETTLEMENT_LEASE: Key = { pk: "SETTLEMENT", sk: "LEASE" };
export const earnKey = (account: string, period: number, requestId: string): Key => ({ pk: `EARN#${account}`, sk: `P#${pad(period)}#${requestId}` });
export const rewardKey = (account: string, period: number): Key => ({ pk: `REWARD#${account}`, sk: `P#${pad(period)}` });
export const treeBlobKey = (period: number) => `settlements/${pad(period)}/tree.json`;

/**
 *   ATTRIBUTION_INPUT#{requestId}  INPUT   what a call's asynchronous attribution needs (its token ids and
 *                                          the adapter's files); deleted once the final attribution is
 *                                          written, and dropped by TTL after a day if it never is
 */
export const attributionInputKey = (requestId: string): Key => ({ pk: `ATTRIBUTION_INPUT#${requestId}`, sk: "INPUT" });
