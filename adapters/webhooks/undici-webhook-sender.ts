import { fetch as undiciFetch, type Agent } from "undici";
import type { HostResolver } from "../../core/ports/host-resolver.ts";
import type { WebhookRequest, WebhookResponse, WebhookSender } from "../../core/ports/webhook-sender.ts";
import { createPinnedAgent } from "./pinned-agent.ts";
import { systemResolver } from "./system-resolver.ts";

export interface UndiciWebhookSenderOptions {
  /** DNS resolver of the pinned connections' own check (requests that refuse private addresses); the system resolver by default. */
  resolve?: HostResolver;
}

/**
 * WebhookSender on undici's fetch. A request that refuses private addresses
 * goes through one pinned Agent (see pinned-agent.ts), kept for the sender's
 * life so connections are reused across deliveries; one that allows them
 * (the local deployment) uses undici's global dispatcher.
 */
export class UndiciWebhookSender implements WebhookSender {
  readonly #resolve: HostResolver;
  #pinned: Agent | undefined;

  constructor(options: UndiciWebhookSenderOptions = {}) {
    this.#resolve = options.resolve ?? systemResolver;
  }

  async send(request: WebhookRequest): Promise<WebhookResponse> {
    try {
      const response = await undiciFetch(request.url, {
        method: "POST",
        headers: request.headers,
        body: request.body,
        // A redirect could lead anywhere, including inside the network: it is reported as the 3xx it is.
        redirect: "manual",
        signal: AbortSignal.timeout(request.timeoutMs),
        ...(request.allowPrivateAddresses ? {} : { dispatcher: this.#pinnedAgent() }),
      });
      // The receiver's body is not needed; cancelling it frees the connection for reuse.
      await response.body?.cancel().catch(() => undefined);
      return { statusCode: response.status };
    } catch (error) {
      return { error: failureReason(error).slice(0, 500) };
    }
  }

  /** Closes the pinned connections (tests, shutdown). */
  async close(): Promise<void> {
    await this.#pinned?.close();
    this.#pinned = undefined;
  }

  #pinnedAgent(): Agent {
    return (this.#pinned ??= createPinnedAgent(this.#resolve));
  }
}

/** A short reason for the delivery log; fetch wraps connection errors as "fetch failed" with a cause. */
function failureReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return "timed out";
  const cause = error.cause;
  if (error.message === "fetch failed" && cause instanceof Error) return cause.name === "TimeoutError" ? "timed out" : cause.message;
  return error.message;
}
