import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import type { CoreDeps } from "../../core/deps.ts";
import {
  createWebhook,
  CreateWebhookInput,
  CreatedWebhook,
  deleteWebhook,
  Delivery,
  enableWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  Webhook,
  type HostResolver,
} from "../../core/webhooks/index.ts";
import { systemResolver } from "../../adapters/webhooks/system-resolver.ts";
import type { App } from "../env.ts";
import { bearer, CursorQuery, errorResponses, json, jsonBody, LimitQuery, page } from "../openapi.ts";

const WebhookParams = z.object({ id: z.string().min(1).max(64) });

const createRouteDef = createRoute({
  method: "post",
  path: "/v1/webhooks",
  tags: ["webhooks"],
  summary: "Register a webhook endpoint",
  description:
    "Deliveries are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). " +
    "The `secret` is returned only in this response. URLs reaching private or loopback addresses are refused in the cloud (`unsafe-webhook-url`).",
  security: bearer,
  request: { body: jsonBody(CreateWebhookInput) },
  responses: { 201: json(CreatedWebhook, "The endpoint, with its signing secret"), ...errorResponses(400, 401, 409, 413, 415) },
});

const listRoute = createRoute({
  method: "get",
  path: "/v1/webhooks",
  tags: ["webhooks"],
  summary: "List your webhook endpoints",
  security: bearer,
  request: { query: z.object({ cursor: CursorQuery }) },
  responses: { 200: json(page(Webhook, "WebhookPage"), "Your endpoints (no secrets)"), ...errorResponses(400, 401) },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/webhooks/{id}",
  tags: ["webhooks"],
  summary: "Get a webhook endpoint",
  security: bearer,
  request: { params: WebhookParams },
  responses: { 200: json(Webhook, "The endpoint (no secret)"), ...errorResponses(401, 404) },
});

const deleteRoute = createRoute({
  method: "delete",
  path: "/v1/webhooks/{id}",
  tags: ["webhooks"],
  summary: "Delete a webhook endpoint",
  security: bearer,
  request: { params: WebhookParams },
  responses: { 204: { description: "Deleted" }, ...errorResponses(401, 404) },
});

const enableRoute = createRoute({
  method: "post",
  path: "/v1/webhooks/{id}/enable",
  tags: ["webhooks"],
  summary: "Enable a webhook endpoint again",
  description:
    "For an endpoint the dispatcher disabled after repeated failures (`enabled: false`, `disabledReason`): resets its failure count and delivers events from now on. " +
    "Deliveries that failed while it was disabled are not re-sent. The URL is checked again (`unsafe-webhook-url`).",
  security: bearer,
  request: { params: WebhookParams },
  responses: { 200: json(Webhook, "The endpoint, enabled"), ...errorResponses(400, 401, 404, 409) },
});

const deliveriesRoute = createRoute({
  method: "get",
  path: "/v1/webhooks/{id}/deliveries",
  tags: ["webhooks"],
  summary: "Delivery log of a webhook endpoint, newest first",
  security: bearer,
  request: { params: WebhookParams, query: z.object({ cursor: CursorQuery, limit: LimitQuery }) },
  responses: { 200: json(page(Delivery, "DeliveryPage"), "Deliveries with each attempt"), ...errorResponses(400, 401, 404) },
});

/** Webhook endpoint management; `resolve` (the SSRF check's DNS) defaults to the system resolver. */
export function webhookRoutes(app: App, deps: CoreDeps, options: { resolve?: HostResolver } = {}): void {
  const resolve = options.resolve ?? systemResolver;
  app.openapi(createRouteDef, async (c) => c.json(await createWebhook(deps, c.get("caller"), c.req.valid("json"), { resolve }), 201));
  app.openapi(listRoute, async (c) => c.json(await listWebhooks(deps, c.get("caller"), c.req.valid("query")), 200));
  app.openapi(getRoute, async (c) => c.json(await getWebhook(deps, c.get("caller"), c.req.valid("param").id), 200));
  app.openapi(deleteRoute, async (c) => {
    await deleteWebhook(deps, c.get("caller"), c.req.valid("param").id);
    return c.body(null, 204);
  });
  app.openapi(enableRoute, async (c) => c.json(await enableWebhook(deps, c.get("caller"), c.req.valid("param").id, { resolve }), 200));
  app.openapi(deliveriesRoute, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    return c.json(await listDeliveries(deps, c.get("caller"), c.req.valid("param").id, { cursor, limit }), 200);
  });
}
