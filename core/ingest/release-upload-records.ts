import { forEachLimit } from "../concurrency.ts";
import { CONTRIBUTION_SK_PREFIX, type ContributionLayout } from "../datanets/contribution-layout.ts";
import { acceptedBlobKey, contributionIdPrefix, ingestCheckpointKey } from "../datanets/keys.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError } from "../errors.ts";
import { MAX_TRANSACT_OPS } from "../ports/tables.ts";

/** Row shards released at once. */
const SHARD_CONCURRENCY = 4;

/**
 * Removes every trace of an upload's records: its contribution rows (in every
 * shard of the Datanet's layout), the content-hash claims they hold (a claim
 * another contribution holds stays), its accepted-records blob (every part)
 * and its ingest checkpoint. Safe to repeat; run it only once nothing else
 * writes for the upload any more (it has failed or is about to).
 */
export async function releaseUploadRecords(deps: Pick<CoreDeps, "tables" | "blobs">, layout: ContributionLayout, uploadId: string): Promise<void> {
  const { contributions } = deps.tables;
  const skPrefix = `${CONTRIBUTION_SK_PREFIX}${contributionIdPrefix(uploadId)}`;
  await forEachLimit(layout.rowPartitions, SHARD_CONCURRENCY, async (pk) => {
    // Deleting what a page returned shifts the next page, so always read the first.
    for (;;) {
      const page = await contributions.query({ pk, skPrefix, limit: MAX_TRANSACT_OPS });
      if (page.items.length === 0) break;
      await Promise.all(
        page.items.map(async (item) => {
          if (typeof item.contentHash !== "string") return;
          try {
            await contributions.delete(layout.claimKey(item.contentHash), { equals: { contributionId: item.id } });
          } catch (error) {
            if (!(error instanceof ConditionFailedError)) throw error; // owned by someone else: theirs to keep
          }
        }),
      );
      await contributions.transact(page.items.map((item) => ({ delete: { pk: item.pk, sk: item.sk } })));
    }
  });
  for (const key of await deps.blobs.list(acceptedBlobKey(layout.datanetId, uploadId))) await deps.blobs.delete(key);
  await contributions.delete(ingestCheckpointKey(layout.datanetId, uploadId));
}
