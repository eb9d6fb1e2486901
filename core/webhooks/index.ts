/** Webhooks: endpoints, event routing and signed delivery — the public face of core/webhooks. */
export { createWebhook, deleteWebhook, enableWebhook, getWebhook, listDeliveries, listWebhooks, type WebhookOptions } from "./webhooks.ts";
export { routeEvent, deliveryIdFor } from "./route-event.ts";
export { dispatchWebhook, type DispatchOptions, type DispatchOutcome, type WebhookDispatchDeps } from "./dispatch.ts";
export { retryDelaySeconds, MAX_DELAY_SECONDS } from "./backoff.ts";
export { checkWebhookUrl, checkWebhookUrlShape, isPrivateAddress, resolvePublicAddresses, type HostResolver } from "./url-policy.ts";
export type { WebhookRequest, WebhookResponse, WebhookSender } from "../ports/webhook-sender.ts";
export * from "./model.ts";
