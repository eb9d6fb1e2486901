import { acceptedBlobKey, contentHashKey, CONTRIBUTION_SK_PREFIX, contributionIdPrefix, datanetPk, ingestCheckpointKey } from "../datanets/keys.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError } from "../errors.ts";
import { MAX_TRANSACT_OPS } from "../ports/tables.ts";

/**
 * Removes every trace of an upload's records: its contribution rows, the
 * content-hash claims they hold (a claim another contribution holds stays),
 * its accepted-records blob (every part) and its ingest checkpoint. Safe to repeat; run it only once nothing
 * else writes for the upload any more (it has failed or is about to).
 */
export async function releaseUploadRecords(deps: Pick<CoreDeps, "tables" | "blobs">, datanetId: string, uploadId: string): Promise<void> {
  const { contributions } = deps.tables;
  // Deleting what a page returned shifts the next page, so always read the first.
  for (;;) {
    const page = await contributions.query({
      pk: datanetPk(datanetId),
      skPrefix: `${CONTRIBUTION_SK_PREFIX}${contributionIdPrefix(uploadId)}`,
      limit: MAX_TRANSACT_OPS,
    });
    if (page.items.length === 0) break;
    await Promise.all(
      page.items.map(async (item) => {
        if (typeof item.contentHash !== "string") return;
        try {
          await contributions.delete(contentHashKey(datanetId, item.contentHash), { equals: { contributionId: item.id } });
        } catch (error) {
          if (!(error instanceof ConditionFailedError)) throw error; // owned by someone else: theirs to keep
        }
      }),
    );
    await contributions.transact(page.items.map((item) => ({ delete: { pk: item.pk, sk: item.sk } })));
  }
  for (const key of await deps.blobs.list(acceptedBlobKey(datanetId, uploadId))) await deps.blobs.delete(key);
  await contributions.delete(ingestCheckpointKey(datanetId, uploadId));
}
