import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { z } from "zod";
import type { JobDeps } from "../../core/jobs/deps.ts";
import { startJobAttempt } from "../../core/jobs/start-job.ts";
import { type HandlerOptions, logger as sharedLogger } from "../logger.ts";
import { parseEvent } from "../middleware/parse-event.ts";
import { SqsEventSchema } from "./events.ts";

/** A message of the jobs queue. */
export const StartJobMessage = z.object({ jobId: z.string().min(1) });

/**
 * Jobs-queue consumer: `{ jobId }` → `startJobAttempt`. Duplicates are
 * harmless (only a QUEUED job starts); a message that throws is reported as a
 * batch item failure so SQS redelivers only it.
 */
export function createStartJobHandler(deps: JobDeps, options: HandlerOptions = {}) {
  const logger = options.logger ?? sharedLogger;
  const startRecord = async (record: SQSRecord) => {
    const { jobId } = StartJobMessage.parse(JSON.parse(record.body));
    try {
      const result = await startJobAttempt(deps, jobId);
      logger.info("start job", { messageId: record.messageId, jobId, ...result });
    } catch (error) {
      logger.error("start job failed", { messageId: record.messageId, jobId, error: error as Error });
      throw error;
    }
  };
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger))
    .use(parseEvent("SQS", SqsEventSchema))
    .handler((event, context) => processPartialResponse(event, startRecord, new BatchProcessor(EventType.SQS), { context }));
}
