import type { Context, SQSRecord } from "aws-lambda";
import type { CoreDeps } from "../../core/deps.ts";
import { DEFAULT_LEASE_MS, ingestObject } from "../../core/ingest/ingest-object.ts";
import { QueueNames } from "../../core/ports/queue.ts";
import { handlerTools, sqsBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";
import { createdObjects, s3ObjectCreatedEvent } from "./s3-notification.ts";

/** How long before its time limit an ingest stops at a checkpoint and hands over to a continuation. */
const HAND_OVER_MS = 60_000;

/**
 * Ingest consumer: SQS messages carrying S3 object-created notifications →
 * `ingestObject` per object. A run near the function's time limit checkpoints
 * and queues a continuation (the same notification again), which resumes from
 * the checkpoint; a notification for an upload another run holds is queued
 * again for when that run's lease ends. A message whose ingest throws is
 * reported as a batch item failure, so SQS redelivers only it (and dead-letters
 * it in the end); the redelivery resumes from the last checkpoint too.
 */
export function createIngestHandler(deps: CoreDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  const ingestRecord = async (record: SQSRecord, context?: Context) => {
    for (const { bucket, key, size } of createdObjects(record.body)) {
      try {
        const deadline = context ? Date.now() + context.getRemainingTimeInMillis() - HAND_OVER_MS : undefined;
        const result = await ingestObject(deps, { key, size, ...(deadline !== undefined ? { deadline } : {}) });
        if (result.status === "paused" || result.status === "busy") {
          const delaySeconds = result.status === "busy" ? Math.min(900, Math.ceil(DEFAULT_LEASE_MS / 1000)) : 0;
          await deps.queue.send(QueueNames.ingest, s3ObjectCreatedEvent({ bucket, key, size }), { delaySeconds });
          logger.info("ingest handed over", { messageId: record.messageId, key, status: result.status, delaySeconds });
        }
      } catch (error) {
        logger.error("ingest failed", { messageId: record.messageId, key, error: error as Error });
        throw error;
      }
    }
  };
  // One object at a time: each ingest streams a whole upload and holds its dedupe state.
  return sqsBatchHandler(ingestRecord, { ...options, inOrder: true });
}
