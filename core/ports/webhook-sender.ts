/**
 * The HTTP side of webhook delivery: one signed POST to a receiver. Core
 * builds and signs the request and decides what a result means (retry,
 * dead-letter, disable); the sender only moves bytes (undici in
 * adapters/webhooks, a recording fake in tests).
 */

/** One webhook POST, signed and ready to go. */
export interface WebhookRequest {
  /** The endpoint's URL, already checked by the URL policy's shape rules. */
  url: string;
  /** The Standard Webhooks headers and content type. */
  headers: Record<string, string>;
  /** The JSON payload exactly as signed. */
  body: string;
  /** Give up after this many milliseconds and report `timed out`. */
  timeoutMs: number;
  /**
   * When false (the cloud), the sender must connect only to public addresses
   * that it resolved and checked itself while connecting, so a name cannot
   * answer one address to a check and another to the connection.
   */
  allowPrivateAddresses: boolean;
}

/** What became of one POST: the receiver's status, or why no status came back. */
export type WebhookResponse = { statusCode: number } | { error: string };

export interface WebhookSender {
  /**
   * Sends one request without following redirects (a redirect is a response
   * like any other). Never throws for network failures, timeouts or a refused
   * address: it reports them as `{ error }` with a short reason.
   */
  send(request: WebhookRequest): Promise<WebhookResponse>;
}
