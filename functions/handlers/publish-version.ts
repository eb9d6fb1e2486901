import type { SQSRecord } from "aws-lambda";
import { completePublish, PublishMessage } from "../../core/datanets/versions.ts";
import type { CoreDeps } from "../../core/deps.ts";
import { handlerTools, sqsBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

/** Receives of one versions-queue message before it is dead-lettered (the queue's maxReceiveCount, locally and on AWS). */
export const PUBLISH_MAX_RECEIVES = 3;

/**
 * Versions-queue consumer: `{ datanetId, version, publishId }` → builds the
 * reserved version. A failure is a batch item failure, so the queue retries;
 * on the last receive the version is marked failed, for its owner to see.
 */
export function createPublishVersionHandler(deps: CoreDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  const publishRecord = async (record: SQSRecord) => {
    const message = PublishMessage.parse(JSON.parse(record.body));
    const finalAttempt = Number(record.attributes.ApproximateReceiveCount) >= PUBLISH_MAX_RECEIVES;
    try {
      const outcome = await completePublish(deps, message, { finalAttempt });
      logger.info("publish version", { messageId: record.messageId, ...message, outcome });
    } catch (error) {
      logger.error("publish version failed", { messageId: record.messageId, ...message, finalAttempt, error: error as Error });
      throw error;
    }
  };
  // One version at a time: a build holds the whole tree in memory.
  return sqsBatchHandler(publishRecord, { ...options, inOrder: true });
}
