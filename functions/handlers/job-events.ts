import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { applyJobEvent } from "../../core/jobs/apply-event.ts";
import type { JobDeps } from "../../core/jobs/deps.ts";
import { JobEvent } from "../../core/jobs/model.ts";
import { type HandlerOptions, logger as sharedLogger } from "../logger.ts";
import { parseEvent } from "../middleware/parse-event.ts";
import { SqsEventSchema } from "./events.ts";

/**
 * Job-events consumer: each message is a JobEvent (from the trainer or the
 * compute) → `applyJobEvent`. Processed one after another, in batch order, so
 * a job's events in one batch apply in the order they were sent; the state
 * machine itself tolerates duplicates and any order across batches.
 */
export function createJobEventsHandler(deps: JobDeps, options: HandlerOptions = {}) {
  const logger = options.logger ?? sharedLogger;
  const applyRecord = async (record: SQSRecord) => {
    const event = JobEvent.parse(JSON.parse(record.body));
    try {
      const result = await applyJobEvent(deps, event);
      logger.debug("job event", { messageId: record.messageId, jobId: event.jobId, type: event.type, attempt: event.attempt, seq: event.seq, result });
    } catch (error) {
      logger.error("job event failed", { messageId: record.messageId, jobId: event.jobId, type: event.type, error: error as Error });
      throw error;
    }
  };
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger))
    .use(parseEvent("SQS", SqsEventSchema))
    .handler((event, context) => processPartialResponse(event, applyRecord, new BatchProcessor(EventType.SQS), { context, processInParallel: false }));
}
