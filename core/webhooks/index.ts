/** Webhooks: endpoints, event routing and signed delivery — the public face of core/webhooks. */
export { createWebhook, deleteWebhook, getWebhook, listDeliveries, listWebhooks, type WebhookOptions } from "./webhooks.ts";
export { routeEvent, deliveryIdFor } from "./route-event.ts";
export { dispatchWebhook, type DispatchOptions, type DispatchOutcome } from "./dispatch.ts";
export { retryDelaySeconds, MAX_DELAY_SECONDS } from "./backoff.ts";
export { checkWebhookUrl, checkWebhookUrlShape, isPrivateAddress, systemResolver, type HostResolver } from "./url-policy.ts";
export { checkedLookup, createPinnedAgent } from "./pinned-agent.ts";
export * from "./model.ts";
