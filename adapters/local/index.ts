/**
 * The local deployment's adapters: AWS semantics on one machine.
 * Table store, queues and change stream share one node:sqlite database
 * (`$DATA_DIR/platform.db`); blobs live in a directory.
 */
export { SqliteTableStore } from "./sqlite-table-store.ts";
export { SqliteQueue, ReceiptHandleError, deadLetterQueueOf } from "./sqlite-queue.ts";
export type { QueueSettings, SqliteQueueOptions, ReceivedMessage, ReceiveOptions, QueueCounts } from "./sqlite-queue.ts";
export { QueuePoller } from "./queue-poller.ts";
export type { QueuePollerOptions, SqsHandler } from "./queue-poller.ts";
export { OutboxStream, streamArn } from "./outbox-stream.ts";
export type { OutboxStreamOptions, StreamSubscription, StreamHandler, StreamFailure } from "./outbox-stream.ts";
export { DiskBlobStore } from "./disk-blob-store.ts";
export type { DiskBlobStoreOptions } from "./disk-blob-store.ts";
export { InvalidBlobKeyError, assertValidKey } from "./blob-key.ts";
export { createLocalUploadRoutes } from "./upload-route.ts";
export type { LocalUploadRoutesOptions, ObjectCreated } from "./upload-route.ts";
export { createLocalDownloadRoutes } from "./download-route.ts";
export type { LocalDownloadRoutesOptions } from "./download-route.ts";
export { DOWNLOAD_PATH, UPLOAD_PATH } from "./upload-signature.ts";
export { localLambdaContext } from "./lambda-context.ts";
