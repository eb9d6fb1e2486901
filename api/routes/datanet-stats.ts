import { createRoute } from "@hono/zod-openapi";
import type { CoreDeps } from "../../core/deps.ts";
import { getDatanetStats } from "../../core/datanets/stats.ts";
import { DatanetStats } from "../../core/datanets/stats-model.ts";
import type { App } from "../env.ts";
import { errorResponses, json, optionalBearer } from "../openapi.ts";
import { DatanetParams } from "./datanets.ts";

const statsRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}/stats",
  tags: ["datanets"],
  summary: "A Datanet's statistics: records, tokens, contributors, a length histogram and its uploads with file names",
  security: optionalBearer,
  request: { params: DatanetParams },
  responses: { 200: json(DatanetStats, "The Datanet's statistics"), ...errorResponses(401, 404) },
});

/** Statistics of a Datanet, for whoever may see it. */
export function datanetStatsRoutes(app: App, deps: CoreDeps): void {
  app.openapi(statsRoute, async (c) => c.json(await getDatanetStats(deps, c.get("caller"), c.req.valid("param").id), 200));
}
