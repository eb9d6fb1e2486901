import { createHash } from "node:crypto";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { localLambdaContext } from "./lambda-context.ts";
import { PollLoop } from "./poll-loop.ts";
import type { ReceivedMessage, SqliteQueue } from "./sqlite-queue.ts";

/** A Lambda SQS handler: returns the failed items (ReportBatchItemFailures) or nothing. */
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void> | SQSBatchResponse | void;

export interface QueuePollerOptions {
  queues: SqliteQueue;
  /** Queue to consume. */
  queue: string;
  handler: SqsHandler;
  /** Messages per invocation (Lambda's BatchSize; default 10). */
  batchSize?: number;
  /** Pause after an empty receive, in milliseconds (default 200). */
  pollIntervalMs?: number;
  /** Overrides the queue's visibility timeout for the poller's receives. */
  visibilityTimeoutSeconds?: number;
  /** Name in the Lambda context (default `<queue>-consumer`). */
  functionName?: string;
  /** Where handler and poll errors go (default console.error); the poller keeps going. */
  onError?: (error: unknown) => void;
}

export interface WaitOptions {
  /** Give up after this many milliseconds (default 30 000). */
  timeoutMs?: number;
}

/**
 * Runs a Lambda-style SQS consumer locally, like Lambda's event source
 * mapping with ReportBatchItemFailures: receive a batch, invoke the handler
 * with an `SQSEvent`, delete what succeeded. Failed messages stay and come
 * back after their visibility timeout; a thrown error fails the whole batch,
 * and so does a response naming a message that is not in the batch.
 */
export class QueuePoller extends PollLoop {
  readonly #queues: SqliteQueue;
  readonly #queue: string;
  readonly #handler: SqsHandler;
  readonly #batchSize: number;
  readonly #visibility: number | undefined;
  readonly #functionName: string;
  readonly #onError: (error: unknown) => void;

  constructor(options: QueuePollerOptions) {
    const onError = options.onError ?? ((error: unknown) => console.error(`[queue-poller ${options.queue}]`, error));
    super(options.pollIntervalMs ?? 200, onError);
    const batchSize = options.batchSize ?? 10;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) {
      throw new RangeError(`batchSize must be an integer from 1 to 1000, got ${batchSize}`);
    }
    this.#queues = options.queues;
    this.#queue = options.queue;
    this.#handler = options.handler;
    this.#batchSize = batchSize;
    this.#visibility = options.visibilityTimeoutSeconds;
    this.#functionName = options.functionName ?? `${options.queue}-consumer`;
    this.#onError = onError;
  }

  /**
   * Resolves when the queue is empty and no batch is in progress: "wait until
   * ingest finished". When the poller is not started it polls by itself.
   * Rejects after `timeoutMs`, e.g. when a failing message waits out its
   * visibility timeout.
   */
  idle(options: WaitOptions = {}): Promise<void> {
    const empty = async () => (await this.#queues.depth(this.#queue)) === 0;
    return this.waitUntilCaughtUp({
      timeoutMs: options.timeoutMs,
      recheckMs: 50,
      // Empty on both sides of any batch started meanwhile, so no batch is in progress on return.
      caughtUp: async () => (await empty()) && (await this.settled(), await empty()),
      timeoutError: async () => {
        const counts = await this.#queues.counts(this.#queue);
        return new Error(`Queue ${this.#queue} not drained in time: ${JSON.stringify(counts)}`);
      },
    });
  }

  /** Same as `idle()`. */
  drain(options: WaitOptions = {}): Promise<void> {
    return this.idle(options);
  }

  protected override async poll(): Promise<number> {
    const messages = await this.#queues.receive(this.#queue, {
      maxMessages: this.#batchSize,
      ...(this.#visibility !== undefined ? { visibilityTimeoutSeconds: this.#visibility } : {}),
    });
    if (messages.length === 0) return 0;
    const event: SQSEvent = { Records: messages.map((m) => sqsRecord(this.#queue, m)) };
    let failed: Set<string>;
    try {
      const response = await this.#handler(event, localLambdaContext(this.#functionName));
      failed = failedIds(response, messages);
    } catch (error) {
      this.#onError(error);
      failed = new Set(messages.map((m) => m.messageId));
    }
    for (const m of messages) {
      if (!failed.has(m.messageId)) await this.#queues.delete(this.#queue, m.receiptHandle);
    }
    return messages.length;
  }
}

/** The ids a handler reported as failed; an unknown or empty id fails the whole batch, as on Lambda. */
function failedIds(response: SQSBatchResponse | void, messages: ReceivedMessage[]): Set<string> {
  const all = new Set(messages.map((m) => m.messageId));
  const failures = response?.batchItemFailures ?? [];
  if (!Array.isArray(failures)) return all;
  const failed = new Set<string>();
  for (const f of failures) {
    const id: unknown = f?.itemIdentifier;
    if (typeof id !== "string" || !all.has(id)) return all;
    failed.add(id);
  }
  return failed;
}

/** The SQS event record Lambda would build for a message. */
export function sqsRecord(queue: string, m: ReceivedMessage): SQSRecord {
  return {
    messageId: m.messageId,
    receiptHandle: m.receiptHandle,
    body: m.body,
    attributes: {
      ApproximateReceiveCount: String(m.receiveCount),
      SentTimestamp: String(m.sentAt),
      SenderId: "000000000000",
      ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
    },
    messageAttributes: {},
    md5OfBody: createHash("md5").update(m.body).digest("hex"),
    eventSource: "aws:sqs",
    eventSourceARN: `arn:aws:sqs:local:000000000000:${queue}`,
    awsRegion: "local",
  };
}
