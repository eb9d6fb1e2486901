import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { CoreDeps } from "../../core/deps.ts";
import { ingestObject } from "../../core/ingest/ingest-object.ts";
import { type HandlerOptions, logger as sharedLogger } from "../logger.ts";
import { parseEvent } from "../middleware/parse-event.ts";
import { SqsEventSchema } from "./events.ts";
import { createdObjects } from "./s3-notification.ts";

/**
 * Ingest consumer: SQS messages carrying S3 object-created notifications →
 * `ingestObject` per object. A message whose ingest throws is reported as a
 * batch item failure, so SQS redelivers only it (and dead-letters it in the end).
 */
export function createIngestHandler(deps: CoreDeps, options: HandlerOptions = {}) {
  const logger = options.logger ?? sharedLogger;
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
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger))
    .use(parseEvent("SQS", SqsEventSchema))
    .handler((event, context) =>
      // One object at a time: each ingest streams a whole upload and holds its dedupe state.
      processPartialResponse(event, ingestRecord, new BatchProcessor(EventType.SQS), { context, processInParallel: false }),
    );
}
