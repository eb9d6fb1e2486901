import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { BaseModel, listBaseModels } from "../../core/jobs/base-models.ts";
import type { App } from "../env.ts";
import { bearer, errorResponses, json } from "../openapi.ts";

const listRoute = createRoute({
  method: "get",
  path: "/v1/base-models",
  tags: ["jobs"],
  summary: "List the base models",
  description: "The base models a job may fine-tune, with the sha256 of their weights (the base-model hash in the attribution fingerprint).",
  security: bearer,
  responses: { 200: json(z.object({ items: z.array(BaseModel) }).meta({ id: "BaseModelList" }), "The base models"), ...errorResponses(401) },
});

/** The base-model catalog. */
export function baseModelRoutes(app: App): void {
  app.openapi(listRoute, (c) => c.json({ items: listBaseModels() }, 200));
}
