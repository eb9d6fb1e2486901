import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { listContributions } from "../../core/datanets/contributions.ts";
import { Contribution, ContributionStatus } from "../../core/datanets/model.ts";
import { PREVIEW_MAX_CHARS, withRecordPreviews } from "../../core/datanets/record-previews.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { CursorQuery, errorResponses, json, LimitQuery, optionalBearer, page } from "../openapi.ts";
import { DatanetParams } from "./datanets.ts";

/** A listed contribution with what lets a person see the data: its file and its content. */
const ContributionWithPreview = Contribution.extend({
  filename: z.string().nullable().meta({ description: "The upload's file name, as its contributor sent it" }),
  content: z.string().nullable().meta({ description: `The accepted record's normalised JSON, at most ${PREVIEW_MAX_CHARS} characters; null for a rejected record (its reason says why)` }),
  contentTruncated: z.boolean().meta({ description: "Whether `content` was cut" }),
}).meta({ id: "ContributionWithPreview" });

const listRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}/contributions",
  tags: ["contributions"],
  summary: "List a Datanet's contributions",
  security: optionalBearer,
  request: {
    params: DatanetParams,
    query: z.object({ status: ContributionStatus.optional(), cursor: CursorQuery, limit: LimitQuery }),
  },
  responses: { 200: json(page(ContributionWithPreview, "ContributionPage"), "Contributions, oldest first, each with its file name and content"), ...errorResponses(400, 401, 404) },
});

/** Contributions of a Datanet. */
export function contributionRoutes(app: App, deps: CoreDeps): void {
  app.openapi(listRoute, async (c) => {
    const { status, cursor, limit } = c.req.valid("query");
    const { id } = c.req.valid("param");
    const listed = await listContributions(deps, c.get("caller"), id, { status, cursor, limit });
    return c.json({ ...listed, items: await withRecordPreviews(deps, id, listed.items) }, 200);
  });
}
