import type { QueueName, QueueSender } from "../../core/ports/queue.ts";

export interface SentMessage {
  queue: QueueName;
  body: unknown;
  delaySeconds?: number;
}

/** A queue that only records what was sent, each body round-tripped through JSON as SQS would. */
export class FakeQueue implements QueueSender {
  readonly sent: SentMessage[] = [];

  async send(queue: QueueName, body: unknown, options?: { delaySeconds?: number }): Promise<void> {
    this.sent.push({ queue, body: JSON.parse(JSON.stringify(body)), ...(options?.delaySeconds !== undefined ? { delaySeconds: options.delaySeconds } : {}) });
  }

  /** The messages sent to one queue, oldest first. */
  on(queue: QueueName): SentMessage[] {
    return this.sent.filter((m) => m.queue === queue);
  }
}
