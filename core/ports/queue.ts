/**
 * Sending side of a durable at-least-once queue (SQS on AWS, SQLite locally).
 * Consumers receive messages in SQS event shape through the runtime (Lambda's
 * event source mapping, or the local poller) and must tolerate duplicates.
 */
export interface QueueSender {
  send(queue: QueueName, body: unknown, options?: { delaySeconds?: number }): Promise<void>;
}

/** The logical queues; each has a dead-letter queue named `<name>-dlq`. */
export const QueueNames = {
  ingest: "ingest",
  webhooks: "webhooks",
  webhooksDeadLetter: "webhooks-dlq",
  /** `{ jobId }`: start (or retry) a fine-tune job's next attempt on the training compute. */
  jobs: "jobs",
  /** JobEvent (core/jobs/model.ts): what trainers and the compute report about a run. */
  jobEvents: "job-events",
  /** PublishMessage (core/datanets/versions.ts): build a reserved Datanet version too large to build in a request. */
  versions: "versions",
} as const;
export type QueueName = (typeof QueueNames)[keyof typeof QueueNames];
