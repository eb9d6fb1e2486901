import type { DiskBlobStore, SqliteQueue } from "../adapters/local/index.ts";
import { s3ObjectCreatedEvent } from "../functions/handlers/s3-notification.ts";
import { DATANETS_GSI_PK, UPLOAD_SK_PREFIX, datanetPk, uploadBlobKey } from "../core/datanets/keys.ts";
import type { CoreDeps } from "../core/deps.ts";
import { QueueNames } from "../core/ports/queue.ts";
import { queryAll } from "../core/query-all.ts";

/**
 * Start-up repairs for the local runtime after a crash, where AWS would not
 * need them: there, S3 and SQS are separate services that outlive any
 * consumer. Here one process is the store, the queue and the consumer, so:
 * - messages the dead process held come back now instead of after their
 *   visibility timeout (up to 30 minutes for ingest);
 * - an upload whose bytes landed but whose ingest message was never sent
 *   (the process died between the two) is queued for ingest again — ingest
 *   is idempotent, so a spare message costs nothing;
 * - half-written temporary upload files are removed.
 */
export async function reconcileAfterRestart(deps: CoreDeps, queues: SqliteQueue, blobs: DiskBlobStore): Promise<{ released: number; requeued: number; cleaned: number }> {
  let released = 0;
  for (const queue of Object.values(QueueNames)) released += queues.releaseInFlight(queue);

  let requeued = 0;
  for await (const datanet of queryAll(deps.tables.main, { pk: DATANETS_GSI_PK, index: "gsi1" })) {
    for await (const upload of queryAll(deps.tables.main, { pk: datanetPk(datanet.id as string), skPrefix: UPLOAD_SK_PREFIX })) {
      if (upload.status !== "pending") continue;
      const key = uploadBlobKey(upload.datanetId as string, upload.uploadId as string);
      const object = await blobs.head(key);
      if (!object) continue; // never uploaded: the signed URL may still be used
      await queues.send(QueueNames.ingest, s3ObjectCreatedEvent({ bucket: "local", key, size: object.size }));
      requeued++;
    }
  }
  const cleaned = await blobs.cleanTemp(0);
  return { released, requeued, cleaned };
}

