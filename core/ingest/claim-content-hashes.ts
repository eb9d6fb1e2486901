import { TransactionCanceledError } from "../errors.ts";
import { contentHashKey } from "../datanets/keys.ts";
import type { TableStore } from "../ports/tables.ts";
import { MAX_TRANSACT_OPS } from "../ports/tables.ts";

export interface HashClaim {
  contentHash: string;
  contributionId: string;
  uploadId: string;
}

/** Rounds of re-claiming after a claim vanished between our write and our read (a rollback). */
const MAX_ROUNDS = 5;

/**
 * Claims each content hash for its contribution with conditional puts, a
 * transaction of up to 100 at a time (the common case, no duplicates, costs
 * one round trip per 100 records). Returns, per hash, the contribution that
 * owns it: the claimant itself, or whoever claimed it first. A hash already
 * owned by the same contribution id (a re-run of the same upload) counts as
 * the claimant's own. Each hash may appear in `claims` once.
 */
export async function claimContentHashes(
  table: TableStore,
  datanetId: string,
  claims: readonly HashClaim[],
): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (let start = 0; start < claims.length; start += MAX_TRANSACT_OPS) {
    let pending = claims.slice(start, start + MAX_TRANSACT_OPS);
    for (let round = 0; pending.length > 0; round++) {
      if (round === MAX_ROUNDS) throw new Error(`could not settle content-hash claims after ${MAX_ROUNDS} rounds`);
      try {
        await table.transact(
          pending.map((c) => ({
            put: { ...contentHashKey(datanetId, c.contentHash), ...c },
            condition: { notExists: true } as const,
          })),
        );
        for (const c of pending) owners.set(c.contentHash, c.contributionId);
        pending = [];
      } catch (error) {
        // Only condition failures tell us who owns what; anything else (a
        // throttle, a transaction conflict) is retried by the queue.
        if (!(error instanceof TransactionCanceledError) || error.failedIndexes.length === 0) throw error;
        const failed = new Set(error.failedIndexes);
        const retry: HashClaim[] = [];
        for (const [i, c] of pending.entries()) {
          if (!failed.has(i)) {
            retry.push(c);
            continue;
          }
          const existing = await table.get(contentHashKey(datanetId, c.contentHash));
          if (existing) owners.set(c.contentHash, existing.contributionId as string);
          else retry.push(c);
        }
        pending = retry;
      }
    }
  }
  return owners;
}
