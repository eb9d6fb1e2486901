import type { Clock } from "../ports/clock.ts";
import { TransactionCanceledError } from "../errors.ts";
import type { Item, TableStore } from "../ports/tables.ts";
import type { UsageRecord } from "../payments/usage.ts";
import { callRefKey, earnKey, periodIndex, periodMarkerKey, settlementKey } from "./keys.ts";
import { splitFee, type Shares } from "./split.ts";

export interface AssignDeps {
  usage: TableStore;
  clock: Clock;
  epochSeconds: number;
  /** The split used for the pending estimate (settlement recomputes it with the distributor's shares). */
  shares: Shares;
}

/**
 * Assigns a charged call to the first period still open at or after its own
 * (record-usage, on the usage table's stream). The assignment is one
 * transaction: the period must not be frozen, and the call must not be
 * assigned already, so a record delivered twice is counted once, and one
 * that arrives after its period closed is settled with the next. Then the
 * call's parts are written per account as pending earnings.
 */
export async function assignCall(deps: AssignDeps, record: UsageRecord): Promise<{ period: number; duplicate: boolean } | undefined> {
  const fee = BigInt(record.charged);
  if (fee === 0n || !record.channelId || record.cumulativeCharged === null || record.seq === null || !record.voucher || !record.owner) return undefined;
  const call = {
    requestId: record.requestId,
    channelId: record.channelId,
    seq: record.seq,
    fee: record.charged,
    cumulativeCharged: record.cumulativeCharged,
    voucher: record.voucher,
    owner: record.owner,
    adapterId: record.adapterId,
    payer: record.payer,
    contributors: record.attribution.contributors,
    /** The attribution method behind `contributors`, and the shares the pending estimate used. */
    method: record.attribution.method,
    shares: deps.shares,
  };
  const currentPeriod = Math.floor(deps.clock.now() / 1000 / deps.epochSeconds);
  for (let period = record.period; period <= Math.max(record.period, currentPeriod) + 1; period++) {
    const item: Item = { ...callRefKey(record.requestId), ...periodIndex(period, record.requestId), kind: "call", period, ...call };
    try {
      await deps.usage.transact([
        { check: settlementKey(period), condition: { notExists: true } },
        { put: item, condition: { notExists: true } },
      ]);
    } catch (error) {
      if (!(error instanceof TransactionCanceledError)) throw error;
      if (error.failedIndexes.includes(1)) {
        const existing = await deps.usage.get(callRefKey(record.requestId));
        return { period: (existing?.period as number) ?? period, duplicate: true };
      }
      continue; // frozen: the next period
    }
    await deps.usage.put({ ...periodMarkerKey(period), kind: "period", period });
    const split = splitFee({ fee, owner: record.owner, contributors: record.attribution.contributors, shares: deps.shares });
    await deps.usage.batchPut(
      [...split.accounts].map(([account, amount]) => ({ ...earnKey(account, period, record.requestId), kind: "earning", account, period, amount: amount.toString(), requestId: record.requestId })),
    );
    return { period, duplicate: false };
  }
  throw new Error(`no open settlement period for ${record.requestId} (periods ${record.period}–${currentPeriod + 1} are frozen)`);
}
