import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { AddressSchema } from "../../core/account.ts";
import { getAdapter, listAdapters } from "../../core/adapters/adapters.ts";
import { AdapterView } from "../../core/adapters/model.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, CursorQuery, errorResponses, json, LimitQuery, page } from "../openapi.ts";

const AdapterParams = z.object({ id: z.string().min(1).max(64).meta({ description: "Adapter id", example: "ad_01JD2Y3Z4X5W6V7T8S9R0Q1P2N" }) });

const listRoute = createRoute({
  method: "get",
  path: "/v1/adapters",
  tags: ["adapters"],
  summary: "List adapters",
  description: "Every adapter (adapters are public listings), newest first, with its on-chain registration status.",
  security: bearer,
  request: {
    query: z.object({
      owner: AddressSchema.optional().meta({ description: "Only this account's adapters" }),
      baseModel: z.string().max(64).optional().meta({ description: "Only adapters of this base model" }),
      cursor: CursorQuery,
      limit: LimitQuery,
    }),
  },
  responses: { 200: json(page(AdapterView, "AdapterPage"), "Adapters"), ...errorResponses(400, 401) },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/adapters/{id}",
  tags: ["adapters"],
  summary: "Get an adapter",
  description: "Files, hashes, attribution fingerprint, attribution weights per Datanet version and contributor, and on-chain status.",
  security: bearer,
  request: { params: AdapterParams },
  responses: { 200: json(AdapterView, "The adapter"), ...errorResponses(401, 404) },
});

/** Adapter listing and lookup. */
export function adapterRoutes(app: App, deps: CoreDeps): void {
  app.openapi(listRoute, async (c) => {
    const { owner, baseModel, cursor, limit } = c.req.valid("query");
    return c.json(await listAdapters(deps, c.get("caller"), { owner, baseModel, cursor, limit }), 200);
  });
  app.openapi(getRoute, async (c) => c.json(await getAdapter(deps, c.get("caller"), c.req.valid("param").id), 200));
}
