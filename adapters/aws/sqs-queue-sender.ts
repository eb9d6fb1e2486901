import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { QueueName, QueueSender } from "../../core/ports/queue.ts";

/** SQS caps DelaySeconds at 15 minutes. */
const MAX_DELAY_SECONDS = 900;

/** QueueSender on SQS; each logical queue name maps to its queue URL. */
export class SqsQueueSender implements QueueSender {
  readonly #sqs: SQSClient;
  readonly #urls: Partial<Record<QueueName, string>>;

  constructor(sqs: SQSClient, urls: Partial<Record<QueueName, string>>) {
    this.#sqs = sqs;
    this.#urls = urls;
  }

  async send(queue: QueueName, body: unknown, options: { delaySeconds?: number } = {}): Promise<void> {
    const url = this.#urls[queue];
    if (!url) throw new Error(`No SQS queue URL configured for queue "${queue}"`);
    const delay = options.delaySeconds;
    if (delay !== undefined && (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_SECONDS)) {
      throw new RangeError(`delaySeconds must be a whole number from 0 to ${MAX_DELAY_SECONDS}, got ${delay}`);
    }
    const message = JSON.stringify(body);
    if (message === undefined) throw new TypeError("A queue message body must be JSON-serialisable");
    await this.#sqs.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: message, ...(delay !== undefined ? { DelaySeconds: delay } : {}) }),
    );
  }
}
