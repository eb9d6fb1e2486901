import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { AddressSchema } from "../../core/account.ts";
import { getAdapter, listAdapters } from "../../core/adapters/adapters.ts";
import { ADAPTER_DOWNLOAD_TTL_SECONDS, ADAPTER_FILE_NAMES, presignAdapterFile } from "../../core/adapters/files.ts";
import { AdapterView } from "../../core/adapters/model.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, CursorQuery, errorResponses, json, LimitQuery, optionalBearer, page } from "../openapi.ts";

const AdapterParams = z.object({ id: z.string().min(1).max(64).meta({ description: "Adapter id", example: "ad_01JD2Y3Z4X5W6V7T8S9R0Q1P2N" }) });

const listRoute = createRoute({
  method: "get",
  path: "/v1/adapters",
  tags: ["adapters"],
  summary: "List adapters",
  description: "Every adapter (adapters are public listings), newest first, with its on-chain registration status.",
  security: optionalBearer,
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
  security: optionalBearer,
  request: { params: AdapterParams },
  responses: { 200: json(AdapterView, "The adapter"), ...errorResponses(401, 404) },
});

const FileParams = AdapterParams.extend({
  file: z.enum(ADAPTER_FILE_NAMES).meta({ description: "One of the adapter's files (PEFT layout, plus the trainer's attribution and metrics)", example: "adapter_model.safetensors" }),
});

const DownloadLink = z
  .object({
    url: z.string().meta({ description: "Presigned URL; GET it without credentials before it expires" }),
    expiresAt: z.string().meta({ description: "ISO-8601 instant the URL stops working" }),
  })
  .meta({ id: "DownloadLink" });

const fileRoute = createRoute({
  method: "get",
  path: "/v1/adapters/{id}/files/{file}",
  tags: ["adapters"],
  summary: "Download an adapter file",
  description:
    `Redirects (302) to a presigned URL of the file that lives ${ADAPTER_DOWNLOAD_TTL_SECONDS / 60} minutes and saves it under its name. ` +
    "With `redirect=false` the link comes back as JSON instead, for clients (browsers) that cannot follow a redirect of an authenticated fetch. " +
    "Any signed-in caller may download (adapters are public listings).",
  security: bearer,
  request: {
    params: FileParams,
    query: z.object({
      redirect: z.enum(["true", "false"]).default("true").meta({ description: "`false`: answer 200 with `{url, expiresAt}` instead of redirecting" }),
    }),
  },
  responses: {
    200: json(DownloadLink, "The presigned link (with `redirect=false`)"),
    302: { description: "To the presigned URL", headers: z.object({ location: z.string() }) },
    ...errorResponses(400, 401, 404),
  },
});

/** Adapter listing, lookup and file downloads. */
export function adapterRoutes(app: App, deps: CoreDeps): void {
  app.openapi(listRoute, async (c) => {
    const { owner, baseModel, cursor, limit } = c.req.valid("query");
    return c.json(await listAdapters(deps, c.get("caller"), { owner, baseModel, cursor, limit }), 200);
  });
  app.openapi(getRoute, async (c) => c.json(await getAdapter(deps, c.get("caller"), c.req.valid("param").id), 200));
  app.openapi(fileRoute, async (c) => {
    const { id, file } = c.req.valid("param");
    const link = await presignAdapterFile(deps, c.get("caller"), id, file);
    // The link is a bearer credential for a few minutes: keep it out of shared caches.
    c.header("cache-control", "private, no-store");
    if (c.req.valid("query").redirect === "false") return c.json(link, 200);
    return c.redirect(link.url, 302);
  });
}
