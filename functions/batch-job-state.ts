import { SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { SqsQueueSender } from "../adapters/aws/sqs-queue-sender.ts";
import { createBatchJobStateHandler } from "./handlers/batch-job-state.ts";
import { tracer } from "./logger.ts";

/** This function only sends to the job-events queue (set by infra/lib/training.ts). */
const env = z.object({ JOB_EVENTS_QUEUE_URL: z.url() }).parse(process.env);

/** Lambda entry: EventBridge Batch Job State Change → `exited` JobEvent. */
export const handler = createBatchJobStateHandler({ queue: new SqsQueueSender(tracer.captureAWSv3Client(new SQSClient({})), { "job-events": env.JOB_EVENTS_QUEUE_URL }) });
