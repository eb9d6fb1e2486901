import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, TransactionCanceledError } from "../errors.ts";
import type { Key, WriteOp } from "../ports/tables.ts";
import type { Chain, ChainTx, OnSubmitted } from "./chain.ts";
import { ChainRevertedError, ChainSyncBusyError } from "./errors.ts";
import { chainStatusOf, type ChainRecord, type ChainRecordKind, type ChainStatus } from "./model.ts";

/** What chain-sync use cases need. */
export type ChainSyncDeps = Pick<CoreDeps, "tables" | "clock" | "config"> & { chain: Chain };

/** How long a worker may hold a record while it sends and waits for the receipt. */
export const LEASE_MS = 5 * 60 * 1000;

/** What is already on chain for a record's subject. */
export type Found = { tx?: ChainTx; conflict?: undefined } | { tx?: undefined; conflict: string };

export interface SyncSpec {
  key: Key;
  kind: ChainRecordKind;
  /** Fields stored on the record besides its status (what it is about). */
  subject: Record<string, unknown>;
  /** Reads the chain: is the write already there (sent by an earlier attempt, or by someone else)? */
  find(): Promise<Found | undefined>;
  /** Sends the write and waits for it to be mined. */
  send(onSubmitted: OnSubmitted): Promise<ChainTx>;
  /** Writes to commit with the confirmation (the domain event), in the same transaction. */
  onConfirmed(tx: ChainTx | undefined): WriteOp[];
}

/**
 * Writes one thing on chain at most once, however often it is asked to.
 *
 * The record is claimed with a conditional write (a lease), then the chain is
 * read first: a write that is already there (an earlier attempt crashed after
 * sending, or the event is a replay) is recorded without a new transaction. A
 * transaction already broadcast is waited for, not re-sent. Its hash is
 * recorded as soon as it is broadcast. A revert marks the record failed with
 * its reason (no retry); any other error leaves the record for a retry and is
 * thrown. Confirmed and failed records are final.
 */
export async function syncRecord(deps: ChainSyncDeps, spec: SyncSpec): Promise<ChainStatus> {
  const { main } = deps.tables;
  const existing = (await main.get(spec.key)) as ChainRecord | undefined;
  if (existing && (existing.status === "confirmed" || existing.status === "failed")) return chainStatusOf(existing);

  const now = deps.clock.now();
  if (existing?.leaseUntil && existing.leaseUntil > now) throw new ChainSyncBusyError(spec.key.pk);
  let record: ChainRecord = {
    ...spec.subject,
    ...existing,
    pk: spec.key.pk,
    sk: spec.key.sk,
    kind: spec.kind,
    status: existing?.status ?? "sending",
    rev: (existing?.rev ?? 0) + 1,
    chainId: deps.chain.chainId,
    leaseUntil: now + LEASE_MS,
    attempts: (existing?.attempts ?? 0) + 1,
    updatedAt: new Date(now).toISOString(),
  };
  await guarded(spec.key, () => main.put(record, existing ? { equals: { rev: existing.rev } } : { notExists: true }));

  /** Replaces the record if nobody else took it over since. */
  const update = async (changes: Partial<ChainRecord>, extra: WriteOp[] = []) => {
    const next: ChainRecord = { ...record, ...changes, rev: record.rev + 1, updatedAt: new Date(deps.clock.now()).toISOString() };
    const put: WriteOp = { put: next, condition: { equals: { rev: record.rev } } };
    await guarded(spec.key, () => (extra.length ? main.transact([put, ...extra]) : main.put(next, put.condition)));
    record = next;
  };
  const confirm = async (tx: ChainTx | undefined) => {
    await update({ status: "confirmed", txHash: tx?.txHash ?? record.txHash, blockNumber: tx?.blockNumber, leaseUntil: undefined, error: undefined }, spec.onConfirmed(tx));
    return chainStatusOf(record);
  };
  const fail = async (reason: string, txHash?: string) => {
    await update({ status: "failed", error: reason, txHash: txHash ?? record.txHash, leaseUntil: undefined });
    return chainStatusOf(record);
  };

  try {
    const found = await spec.find();
    if (found?.conflict) return await fail(found.conflict);
    if (found) return await confirm(found.tx);

    // A transaction an earlier attempt broadcast: wait for it rather than send another.
    if (record.txHash) {
      let state = await deps.chain.transactionState(record.txHash);
      if (state.state === "pending") state = await deps.chain.waitForTransaction(record.txHash);
      if (state.state === "reverted") return await fail(state.reason, record.txHash);
      if (state.state === "mined") {
        const after = await spec.find();
        if (after?.conflict) return await fail(after.conflict);
        return await confirm(after?.tx ?? { txHash: record.txHash, blockNumber: state.blockNumber });
      }
      // "unknown": dropped from the mempool; sending again is safe, the chain refuses duplicates.
    }

    const tx = await spec.send((txHash) => update({ status: "submitted", txHash }));
    return await confirm(tx);
  } catch (error) {
    if (error instanceof ChainRevertedError) return await fail(error.reason, error.txHash);
    // Give the lease back so a retry need not wait it out.
    await update({ leaseUntil: 0 }).catch(() => undefined);
    throw error;
  }
}

async function guarded(key: Key, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (error) {
    if (error instanceof ConditionFailedError || error instanceof TransactionCanceledError) throw new ChainSyncBusyError(key.pk);
    throw error;
  }
}
