import type { EventBridgeEvent } from "aws-lambda";
import { z } from "zod";
import { BatchTags, parseBatchJobName } from "../../adapters/aws/batch-compute.ts";
import type { JobEvent } from "../../core/jobs/model.ts";
import { QueueNames, type QueueSender } from "../../core/ports/queue.ts";
import { handlerTools, lambdaHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

/** The parts of an EventBridge "Batch Job State Change" event this function relies on. */
export const BatchJobStateChangeSchema = z.object({
  "detail-type": z.literal("Batch Job State Change"),
  source: z.literal("aws.batch"),
  time: z.string(),
  detail: z.looseObject({
    jobId: z.string().min(1),
    jobName: z.string(),
    status: z.enum(["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]),
    statusReason: z.string().optional(),
    stoppedAt: z.number().optional(),
    container: z.looseObject({ exitCode: z.number().int().optional(), reason: z.string().optional() }).optional(),
    attempts: z.array(z.looseObject({ container: z.looseObject({ exitCode: z.number().int().optional(), reason: z.string().optional() }).optional(), statusReason: z.string().optional() })).optional(),
    tags: z.record(z.string(), z.string()).optional(),
  }),
});
export type BatchJobStateChange = z.infer<typeof BatchJobStateChangeSchema>;

/**
 * The `exited` JobEvent of a Batch job that ended (SUCCEEDED or FAILED), or undefined for
 * other states and for jobs that are not trainer runs. The run comes from the job's tags,
 * else its name (batchJobName). `seq` and `at` come from the event, so a duplicate delivery
 * produces the same event (and the consumer applies it once).
 */
export function exitedEventOf(change: BatchJobStateChange): JobEvent | undefined {
  const d = change.detail;
  if (d.status !== "SUCCEEDED" && d.status !== "FAILED") return undefined;
  const taggedId = d.tags?.[BatchTags.jobId], taggedAttempt = Number(d.tags?.[BatchTags.attempt]);
  const run = taggedId && Number.isInteger(taggedAttempt) && taggedAttempt > 0 ? { jobId: taggedId, attempt: taggedAttempt } : parseBatchJobName(d.jobName);
  if (!run) return undefined;
  // The job's container is its last attempt's; a job that never ran (no capacity, timeout in RUNNABLE) has no exit code.
  const last = d.attempts?.at(-1);
  const exitCode = d.container?.exitCode ?? last?.container?.exitCode ?? null;
  const containerReason = d.container?.reason ?? last?.container?.reason;
  const reason = [`Batch job ${d.jobId} ${d.status}`, d.statusReason, containerReason].filter(Boolean).join(": ");
  const at = d.stoppedAt ?? Date.parse(change.time);
  return { type: "exited", jobId: run.jobId, attempt: run.attempt, seq: at, at, exitCode, reason };
}

/**
 * EventBridge "Batch Job State Change" (the trainer queue's jobs) → an `exited` JobEvent on
 * the job-events queue, where one consumer applies every job event in order. A failed send
 * throws, so EventBridge's retry delivers the event again.
 */
export function createBatchJobStateHandler(deps: { queue: QueueSender }, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  return lambdaHandler<EventBridgeEvent<"Batch Job State Change", unknown>, void>("Batch Job State Change", BatchJobStateChangeSchema, options, async (event) => {
    const change = BatchJobStateChangeSchema.parse(event);
    const exited = exitedEventOf(change);
    if (!exited) {
      logger.info("batch job state ignored", { batchJobId: change.detail.jobId, jobName: change.detail.jobName, status: change.detail.status });
      return;
    }
    await deps.queue.send(QueueNames.jobEvents, exited);
    logger.info("trainer exited", { batchJobId: change.detail.jobId, ...exited });
  });
}
