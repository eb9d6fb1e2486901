import { UndiciWebhookSender } from "../adapters/webhooks/undici-webhook-sender.ts";
import { awsDeps } from "./aws-deps.ts";
import { createWebhookDispatchHandler } from "./handlers/webhook-dispatch.ts";

/** Lambda entry: webhooks queue → dispatchWebhook, sending over undici with connections pinned to checked public addresses. */
export const handler = createWebhookDispatchHandler({ ...awsDeps(), webhookSender: new UndiciWebhookSender() });
