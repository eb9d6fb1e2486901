import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { listContributions } from "../../core/datanets/contributions.ts";
import { Contribution, ContributionStatus } from "../../core/datanets/model.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, CursorQuery, errorResponses, json, LimitQuery, page } from "../openapi.ts";
import { DatanetParams } from "./datanets.ts";

const listRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}/contributions",
  tags: ["contributions"],
  summary: "List a Datanet's contributions",
  security: bearer,
  request: {
    params: DatanetParams,
    query: z.object({ status: ContributionStatus.optional(), cursor: CursorQuery, limit: LimitQuery }),
  },
  responses: { 200: json(page(Contribution, "ContributionPage"), "Contributions, oldest first"), ...errorResponses(400, 401, 404) },
});

/** Contributions of a Datanet. */
export function contributionRoutes(app: App, deps: CoreDeps): void {
  app.openapi(listRoute, async (c) => {
    const { status, cursor, limit } = c.req.valid("query");
    return c.json(await listContributions(deps, c.get("caller"), c.req.valid("param").id, { status, cursor, limit }), 200);
  });
}
