import type { SQSRecord } from "aws-lambda";
import { applyJobEvent } from "../../core/jobs/apply-event.ts";
import type { JobDeps } from "../../core/jobs/deps.ts";
import { JobEvent } from "../../core/jobs/model.ts";
import { handlerTools, sqsBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

/**
 * Job-events consumer: each message is a JobEvent (from the trainer or the
 * compute) → `applyJobEvent`. Processed one after another, in batch order, so
 * a job's events in one batch apply in the order they were sent; the state
 * machine itself tolerates duplicates and any order across batches.
 */
export function createJobEventsHandler(deps: JobDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
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
  return sqsBatchHandler(applyRecord, { ...options, inOrder: true });
}
