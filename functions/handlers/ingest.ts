import type { SQSRecord } from "aws-lambda";
import type { CoreDeps } from "../../core/deps.ts";
import { ingestObject } from "../../core/ingest/ingest-object.ts";
import { handlerTools, sqsBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";
import { createdObjects } from "./s3-notification.ts";

/**
 * Ingest consumer: SQS messages carrying S3 object-created notifications →
 * `ingestObject` per object. A message whose ingest throws is reported as a
 * batch item failure, so SQS redelivers only it (and dead-letters it in the end).
 */
export function createIngestHandler(deps: CoreDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  const ingestRecord = async (record: SQSRecord) => {
    for (const { key, size } of createdObjects(record.body)) {
      try {
        await ingestObject(deps, { key, size });
      } catch (error) {
        logger.error("ingest failed", { messageId: record.messageId, key, error: error as Error });
        throw error;
      }
    }
  };
  // One object at a time: each ingest streams a whole upload and holds its dedupe state.
  return sqsBatchHandler(ingestRecord, { ...options, inOrder: true });
}
