import { forEachLimit } from "../concurrency.ts";
import type { ContributionLayout } from "../datanets/contribution-layout.ts";
import { uploadKey } from "../datanets/keys.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, TransactionCanceledError } from "../errors.ts";
import type { Item } from "../ports/tables.ts";
import { MAX_TRANSACT_OPS } from "../ports/tables.ts";

export interface HashClaim {
  contentHash: string;
  contributionId: string;
  uploadId: string;
}

/** Rounds of re-claiming after a claim vanished or changed hands between our write and our read. */
const MAX_ROUNDS = 5;
/** Claim transactions in flight at once (each holds up to 100 conditional puts). */
const CLAIM_CONCURRENCY = 8;

/**
 * How long after it started an upload still `processing` is presumed dead, so
 * that its hash claims may be taken over. Far beyond any live run: an ingest
 * invocation stops at the 15-minute Lambda timeout and the queue dead-letters
 * a message after 5 receives with a visibility timeout of 6 × 15 minutes
 * (7.5 h), where the DLQ consumer marks the upload failed anyway.
 */
export const STALE_PROCESSING_MS = 24 * 60 * 60 * 1000;

/**
 * Claims each content hash for its contribution with conditional puts, a
 * transaction of up to 100 at a time, up to 8 transactions in flight (the
 * common case, no duplicates, costs one round trip per 800 records). Returns,
 * per hash, the contribution that owns it: the claimant itself, or whoever
 * claimed it first. A hash already owned by the same contribution id (a re-run
 * of the same upload) counts as the claimant's own. A claim whose upload is
 * gone, `failed`, or `processing` for longer than STALE_PROCESSING_MS never
 * becomes a version's record, so it is taken over (a conditional write on
 * the claim item, so only one claimant wins). Each hash may appear in
 * `claims` once, which makes the transactions independent of each other.
 * The claim keys come from the Datanet's layout: one key per hash, spread
 * over 256 partitions by its first byte.
 */
export async function claimContentHashes(
  deps: Pick<CoreDeps, "tables" | "clock">,
  layout: ContributionLayout,
  claims: readonly HashClaim[],
): Promise<Map<string, string>> {
  const datanetId = layout.datanetId;
  const owners = new Map<string, string>();
  const chunks: HashClaim[][] = [];
  for (let start = 0; start < claims.length; start += MAX_TRANSACT_OPS) chunks.push(claims.slice(start, start + MAX_TRANSACT_OPS));
  // Whether each other upload met holds its claims for good, looked up once per call.
  const holds = new Map<string, Promise<boolean>>();
  const ownerHolds = (uploadId: string) => {
    let held = holds.get(uploadId);
    if (!held) {
      held = uploadHoldsClaims(deps, datanetId, uploadId);
      holds.set(uploadId, held);
    }
    return held;
  };

  await forEachLimit(chunks, CLAIM_CONCURRENCY, (chunk) => claimChunk(deps, layout, chunk, owners, ownerHolds));
  return owners;
}

/** Settles the owners of up to 100 hashes. */
async function claimChunk(
  deps: Pick<CoreDeps, "tables" | "clock">,
  layout: ContributionLayout,
  chunk: HashClaim[],
  owners: Map<string, string>,
  ownerHolds: (uploadId: string) => Promise<boolean>,
): Promise<void> {
  const table = deps.tables.contributions;
  let pending = chunk;
  for (let round = 0; pending.length > 0; round++) {
    if (round === MAX_ROUNDS) throw new Error(`could not settle content-hash claims after ${MAX_ROUNDS} rounds`);
    try {
      await table.transact(
        pending.map((c) => ({
          put: { ...layout.claimKey(c.contentHash), ...c },
          condition: { notExists: true } as const,
        })),
      );
      for (const c of pending) owners.set(c.contentHash, c.contributionId);
      return;
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
        const existing = await table.get(layout.claimKey(c.contentHash));
        if (!existing) retry.push(c);
        else if (existing.uploadId === c.uploadId || (await ownerHolds(existing.uploadId as string))) owners.set(c.contentHash, existing.contributionId as string);
        else if (await takeOver(table, layout, c, existing)) owners.set(c.contentHash, c.contributionId);
        else retry.push(c); // someone else changed the claim first: read it again
      }
      pending = retry;
    }
  }
}

/** Whether an upload's claims stand: it is done, or still processing and not yet presumed dead. */
async function uploadHoldsClaims(deps: Pick<CoreDeps, "tables" | "clock">, datanetId: string, uploadId: string): Promise<boolean> {
  const upload = await deps.tables.main.get(uploadKey(datanetId, uploadId));
  if (!upload) return false;
  if (upload.status === "done") return true;
  if (upload.status !== "processing") return false; // failed (or pending, which never claims)
  const started = Date.parse(upload.startedAt as string);
  return !(deps.clock.now() - started > STALE_PROCESSING_MS);
}

/** Replaces a dead upload's claim, only if it is still the one we read. */
async function takeOver(table: CoreDeps["tables"]["contributions"], layout: ContributionLayout, claim: HashClaim, existing: Item): Promise<boolean> {
  try {
    await table.put({ ...layout.claimKey(claim.contentHash), ...claim }, { equals: { contributionId: existing.contributionId } });
    return true;
  } catch (error) {
    if (error instanceof ConditionFailedError) return false;
    throw error;
  }
}
