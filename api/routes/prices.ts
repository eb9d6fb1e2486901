import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import type { CoreDeps } from "../../core/deps.ts";
import { AdapterPrice } from "../../core/adapters/price.ts";
import { getPrice, setPrice } from "../../core/payments/adapter-prices.ts";
import { Price } from "../../core/payments/prices.ts";
import type { App } from "../env.ts";
import { bearer, errorResponses, json, jsonBody, optionalBearer } from "../openapi.ts";

const Params = z.object({ id: z.string().min(1).max(64).meta({ description: "Adapter id" }) });

const getRoute = createRoute({
  method: "get",
  path: "/v1/adapters/{id}/price",
  tags: ["payments"],
  summary: "An adapter's price",
  description: "Token base units per call and per 1 000 completion tokens. An adapter whose price was never set is free for any signed-in key.",
  security: optionalBearer,
  request: { params: Params },
  responses: { 200: json(AdapterPrice, "The price"), ...errorResponses(401, 404) },
});

const putRoute = createRoute({
  method: "put",
  path: "/v1/adapters/{id}/price",
  tags: ["payments"],
  summary: "Set an adapter's price (owner)",
  description:
    "Amounts are decimal strings in the payment token's base units. A call costs `perCall` plus `perThousandOutputTokens` per 1 000 completion tokens really generated (rounded up); its 402 quote is the most it can cost (`max_tokens`). 0 and 0 make it free.",
  security: bearer,
  request: { params: Params, body: jsonBody(Price) },
  responses: { 200: json(AdapterPrice, "The new price"), ...errorResponses(400, 401, 403, 404) },
});

/** Adapter prices. */
export function priceRoutes(app: App, deps: CoreDeps): void {
  app.openapi(getRoute, async (c) => c.json(await getPrice(deps, c.get("caller"), c.req.valid("param").id), 200));
  app.openapi(putRoute, async (c) => c.json(await setPrice(deps, c.get("caller"), c.req.valid("param").id, c.req.valid("json")), 200));
}
