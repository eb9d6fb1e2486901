import type { SQSRecord } from "aws-lambda";
import type { CoreDeps } from "../../core/deps.ts";
import { markUploadDeadLettered } from "../../core/ingest/mark-upload-dead-lettered.ts";
import { handlerTools, sqsBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";
import { type CreatedObject, createdObjects } from "./s3-notification.ts";

/** The `error` an upload shows when its ingest was given up. */
export const DEAD_LETTER_REASON = "ingest did not finish after repeated attempts; upload the file again, or split it into smaller files";

/**
 * Ingest dead-letter consumer: the S3 notifications the ingest queue gave up
 * on → `markUploadDeadLettered` per object, so the upload ends `failed` with
 * a reason instead of staying `processing`. A message that is no S3
 * notification names no upload: it is logged and dropped, not retried.
 */
export function createIngestDlqHandler(deps: CoreDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  const markRecord = async (record: SQSRecord) => {
    let objects: CreatedObject[];
    try {
      objects = createdObjects(record.body);
    } catch (error) {
      logger.error("dead-lettered ingest message is no S3 notification; dropped", { messageId: record.messageId, error: error as Error });
      return;
    }
    for (const { key } of objects) {
      try {
        const result = await markUploadDeadLettered(deps, { key, reason: DEAD_LETTER_REASON });
        logger.warn("ingest dead-lettered", { messageId: record.messageId, key, status: result.status });
      } catch (error) {
        logger.error("marking a dead-lettered upload failed", { messageId: record.messageId, key, error: error as Error });
        throw error;
      }
    }
  };
  return sqsBatchHandler(markRecord, options);
}
