import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { createDatanet, getDatanet, searchDatanets } from "../../core/datanets/datanets.ts";
import { CreateDatanetInput, Datanet } from "../../core/datanets/model.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, CursorQuery, errorResponses, json, jsonBody, LimitQuery, optionalBearer, page } from "../openapi.ts";

/** `{id}` of a Datanet in a path; shared by the nested resources. */
export const DatanetParams = z.object({ id: z.string().min(1).max(64).meta({ description: "Datanet id", example: "dn_01JD2Y3Z4X5W6V7T8S9R0Q1P2N" }) });

const createDatanetRoute = createRoute({
  method: "post",
  path: "/v1/datanets",
  tags: ["datanets"],
  summary: "Create a Datanet",
  security: bearer,
  request: { body: jsonBody(CreateDatanetInput) },
  responses: { 201: json(Datanet, "The new Datanet"), ...errorResponses(400, 401, 409, 413, 415) },
});

const searchRoute = createRoute({
  method: "get",
  path: "/v1/datanets",
  tags: ["datanets"],
  summary: "Search Datanets",
  description: "Public Datanets, and your own private ones.",
  security: optionalBearer,
  request: {
    query: z.object({
      q: z.string().max(200).optional().meta({ description: "Words to look for in name and description" }),
      tag: z.string().max(32).optional().meta({ description: "Only Datanets with this tag" }),
      cursor: CursorQuery,
      limit: LimitQuery,
    }),
  },
  responses: { 200: json(page(Datanet, "DatanetPage"), "Matching Datanets"), ...errorResponses(400, 401) },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}",
  tags: ["datanets"],
  summary: "Get a Datanet",
  security: optionalBearer,
  request: { params: DatanetParams },
  responses: { 200: json(Datanet, "The Datanet"), ...errorResponses(401, 404) },
});

/** Datanet creation, search and lookup. */
export function datanetRoutes(app: App, deps: CoreDeps): void {
  app.openapi(createDatanetRoute, async (c) => c.json(await createDatanet(deps, c.get("caller"), c.req.valid("json")), 201));
  app.openapi(searchRoute, async (c) => {
    const { q, tag, cursor, limit } = c.req.valid("query");
    return c.json(await searchDatanets(deps, c.get("caller"), { q, tag, cursor, limit }), 200);
  });
  app.openapi(getRoute, async (c) => c.json(await getDatanet(deps, c.get("caller"), c.req.valid("param").id), 200));
}
