import { awsDeps } from "./aws-deps.ts";
import { createWebhookDispatchHandler } from "./handlers/webhook-dispatch.ts";

/** Lambda entry: webhooks queue → dispatchWebhook. */
export const handler = createWebhookDispatchHandler(awsDeps());
