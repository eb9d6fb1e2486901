import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { createUpload, getUpload } from "../../core/datanets/uploads.ts";
import { CreateUploadInput, PresignedUploadSchema, Upload } from "../../core/datanets/model.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, errorResponses, json, jsonBody } from "../openapi.ts";
import { DatanetParams } from "./datanets.ts";

const createUploadRoute = createRoute({
  method: "post",
  path: "/v1/datanets/{id}/uploads",
  tags: ["uploads"],
  summary: "Start an upload to a Datanet",
  description: "Returns a signed URL: send the file's bytes there with exactly the given method and headers. Ingest starts when they land.",
  security: bearer,
  request: { params: DatanetParams, body: jsonBody(CreateUploadInput) },
  responses: { 201: json(PresignedUploadSchema, "Where and how to send the bytes"), ...errorResponses(400, 401, 404, 413, 415) },
});

const getUploadRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}/uploads/{uploadId}",
  tags: ["uploads"],
  summary: "Status of an upload, with accepted and rejected record counts",
  security: bearer,
  request: { params: DatanetParams.extend({ uploadId: z.string().min(1).max(64) }) },
  responses: { 200: json(Upload, "The upload"), ...errorResponses(401, 404) },
});

/** Uploads into a Datanet. */
export function uploadRoutes(app: App, deps: CoreDeps): void {
  app.openapi(createUploadRoute, async (c) =>
    c.json(await createUpload(deps, c.get("caller"), c.req.valid("param").id, c.req.valid("json")), 201),
  );
  app.openapi(getUploadRoute, async (c) => {
    const { id, uploadId } = c.req.valid("param");
    return c.json(await getUpload(deps, c.get("caller"), id, uploadId), 200);
  });
}
