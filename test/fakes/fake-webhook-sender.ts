import type { WebhookRequest, WebhookResponse, WebhookSender } from "../../core/ports/webhook-sender.ts";

/**
 * A WebhookSender that records each request and answers with the given
 * responses in turn (a number is a status; the last answer repeats; 200 when
 * none is given). No sockets: core's delivery tests run on it.
 */
export class FakeWebhookSender implements WebhookSender {
  readonly requests: WebhookRequest[] = [];
  readonly #answers: WebhookResponse[];

  constructor(...answers: (number | WebhookResponse)[]) {
    this.#answers = answers.map((a) => (typeof a === "number" ? { statusCode: a } : a));
  }

  async send(request: WebhookRequest): Promise<WebhookResponse> {
    this.requests.push(request);
    const answers = this.#answers;
    return answers.length === 0 ? { statusCode: 200 } : answers[Math.min(this.requests.length - 1, answers.length - 1)]!;
  }
}
