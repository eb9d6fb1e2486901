import type { SQSRecord } from "aws-lambda";
import { z } from "zod";
import type { JobDeps } from "../../core/jobs/deps.ts";
import { startJobAttempt } from "../../core/jobs/start-job.ts";
import { handlerTools, sqsBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

/** A message of the jobs queue. */
export const StartJobMessage = z.object({ jobId: z.string().min(1) });

/**
 * Jobs-queue consumer: `{ jobId }` → `startJobAttempt`. Duplicates are
 * harmless (only a QUEUED job starts); a message that throws is reported as a
 * batch item failure so SQS redelivers only it.
 */
export function createStartJobHandler(deps: JobDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
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
  return sqsBatchHandler(startRecord, options);
}
