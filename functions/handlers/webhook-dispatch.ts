import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { dispatchWebhook, type DispatchOptions, type WebhookDispatchDeps, WebhookMessage } from "../../core/webhooks/index.ts";
import { type HandlerOptions, logger as sharedLogger } from "../logger.ts";
import { parseEvent } from "../middleware/parse-event.ts";
import { SqsEventSchema } from "./events.ts";

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
  const logger = options.logger ?? sharedLogger;
  const dispatchRecord = async (record: SQSRecord) => {
    const message = WebhookMessage.parse(JSON.parse(record.body));
    const outcome = await dispatchWebhook(deps, message, options.dispatch);
    logger.info("webhook dispatched", { deliveryId: message.deliveryId, attempt: message.attempt, ...outcome });
  };
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger))
    .use(parseEvent("SQS", SqsEventSchema))
    // Deliveries are independent and mostly waiting on HTTP, so they run in parallel.
    .handler((event, context) => processPartialResponse(event, dispatchRecord, new BatchProcessor(EventType.SQS), { context }));
}
