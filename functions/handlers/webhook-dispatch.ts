import type { SQSRecord } from "aws-lambda";
import { dispatchWebhook, type DispatchOptions, type WebhookDispatchDeps, WebhookMessage } from "../../core/webhooks/index.ts";
import { handlerTools, sqsBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

export interface WebhookDispatchHandlerOptions extends HandlerOptions {
  /** Passed to `dispatchWebhook` (attempts, timeout, jitter). */
  dispatch?: DispatchOptions;
}

/**
 * Webhook dispatcher: one SQS message per delivery attempt → `dispatchWebhook`.
 * An HTTP failure is the use case's business (it re-queues with backoff); only
 * a thrown error (bad message, table outage) fails the record for SQS to retry.
 */
export function createWebhookDispatchHandler(deps: WebhookDispatchDeps, options: WebhookDispatchHandlerOptions = {}) {
  const { logger } = handlerTools(options);
  const dispatchRecord = async (record: SQSRecord) => {
    const message = WebhookMessage.parse(JSON.parse(record.body));
    const outcome = await dispatchWebhook(deps, message, options.dispatch);
    logger.info("webhook dispatched", { deliveryId: message.deliveryId, attempt: message.attempt, ...outcome });
  };
  // Deliveries are independent and mostly waiting on HTTP, so they run in parallel.
  return sqsBatchHandler(dispatchRecord, options);
}
