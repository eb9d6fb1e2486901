import type { AccountQuotas } from "../config.ts";
import { uploadKey } from "../datanets/keys.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, QuotaExceededError, TransactionCanceledError } from "../errors.ts";
import type { Item, Key, WriteOp } from "../ports/tables.ts";

/**
 * Per-account quotas on training compute and storage.
 *
 * Two items per account hold what the checks need, and every write that a
 * quota guards commits in one transaction with them, conditional on their
 * revision, so two concurrent requests of one account can never both take
 * the last unit (one of them re-reads and decides again):
 * - `ACCOUNT#{address}` / `QUOTA`: the uploads not yet ingested (in flight);
 * - `ACCOUNT#{address}` / `QUOTA#DAY#{yyyy-mm-dd}`: what the account asked for that UTC day.
 */

export const accountQuotaKey = (address: string): Key => ({ pk: `ACCOUNT#${address.toLowerCase()}`, sk: "QUOTA" });
export const accountDayKey = (address: string, day: string): Key => ({ pk: `ACCOUNT#${address.toLowerCase()}`, sk: `QUOTA#DAY#${day}` });

/** An upload counted as in flight until it is ingested, failed, or its URL expired unused. */
export interface InFlightUpload {
  datanetId: string;
  uploadId: string;
  bytes: number;
  /** Epoch ms after which an upload still pending can no longer receive its bytes. */
  urlExpiresAt: number;
}

export interface QuotaState {
  /** Uploads of the account not yet ingested. */
  inFlight: InFlightUpload[];
  /** Training sequences asked for today. */
  sequencesToday: number;
  /** Upload bytes asked for today. */
  uploadBytesToday: number;
}

/** What a guarded change writes, and how it changes the account's counters. */
export interface QuotaChange {
  writes: WriteOp[];
  addInFlight?: InFlightUpload;
  addSequences?: number;
  addUploadBytes?: number;
}

const MAX_TRIES = 8;
/** How long after its URL expired a pending upload still counts (an object that landed just in time is still being announced). */
const PENDING_GRACE_MS = 5 * 60_000;

export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * Reads the account's quota state, lets `decide` check it and return the
 * change (throwing QuotaExceededError when a quota would be exceeded), and
 * commits the change's writes with the updated counters in one transaction.
 * A concurrent change of the same account makes it read and decide again.
 */
export async function withAccountQuota<T>(
  deps: Pick<CoreDeps, "tables" | "clock">,
  address: string,
  decide: (state: QuotaState) => Promise<{ change: QuotaChange; result: T }> | { change: QuotaChange; result: T },
): Promise<T> {
  const main = deps.tables.main;
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const now = deps.clock.now();
    const dayKey = accountDayKey(address, utcDay(now));
    const [account, day] = await Promise.all([main.get(accountQuotaKey(address)), main.get(dayKey)]);
    const inFlight = await stillInFlight(deps, (account?.inFlight as InFlightUpload[] | undefined) ?? [], now);
    const state: QuotaState = {
      inFlight,
      sequencesToday: (day?.sequences as number | undefined) ?? 0,
      uploadBytesToday: (day?.uploadBytes as number | undefined) ?? 0,
    };
    const { change, result } = await decide(state);
    const ops: WriteOp[] = [...change.writes];
    ops.push(
      revised(account, accountQuotaKey(address), { inFlight: change.addInFlight ? [...inFlight, change.addInFlight] : inFlight }),
      revised(day, dayKey, {
        sequences: state.sequencesToday + (change.addSequences ?? 0),
        uploadBytes: state.uploadBytesToday + (change.addUploadBytes ?? 0),
        // The day item is only read on its own day: the table's TTL drops it a week later.
        ttl: Math.floor(now / 1000) + 8 * 86_400,
      }),
    );
    try {
      await main.transact(ops);
      return result;
    } catch (error) {
      if (error instanceof TransactionCanceledError || error instanceof ConditionFailedError) continue;
      throw error;
    }
  }
  throw new Error(`account ${address}: too many concurrent quota changes`);
}

/** Throws QuotaExceededError when `used + requested` exceeds `limit`. */
export function requireWithin(quota: keyof AccountQuotas, limit: number, used: number, requested: number, unit: string): void {
  if (used + requested > limit) throw new QuotaExceededError(quota, limit, used, requested, unit);
}

/** The item with its new fields and revision, conditional on the revision read (or on absence). */
function revised(current: Item | undefined, key: Key, fields: Record<string, unknown>): WriteOp {
  const rev = (current?.rev as number | undefined) ?? 0;
  return {
    put: { ...key, ...fields, rev: rev + 1 },
    condition: current ? { equals: { rev } } : { notExists: true },
  };
}

/** Drops the uploads that are no longer in flight: ingested, failed, gone, or pending past their URL's life. */
async function stillInFlight(deps: Pick<CoreDeps, "tables">, uploads: InFlightUpload[], now: number): Promise<InFlightUpload[]> {
  const statuses = await Promise.all(
    uploads.map(async (u) => (await deps.tables.main.get(uploadKey(u.datanetId, u.uploadId)))?.status as string | undefined),
  );
  return uploads.filter((u, i) => {
    const status = statuses[i];
    if (status === "processing") return true;
    return status === "pending" && now <= u.urlExpiresAt + PENDING_GRACE_MS;
  });
}
