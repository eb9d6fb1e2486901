import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { ApiKeyInfo, createApiKey, CreateApiKeyInput, listApiKeys, revokeApiKey } from "../../core/auth/index.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, errorResponses, json, jsonBody } from "../openapi.ts";

const KeyParams = z.object({ id: z.string().regex(/^key_[0-9a-f]{24}$/, "must be a key id from GET /v1/keys") });
const CreatedKey = ApiKeyInfo.extend({ apiKey: z.string().meta({ description: "The key itself: shown only in this response" }) }).meta({ id: "CreatedApiKey" });

const listRoute = createRoute({
  method: "get",
  path: "/v1/keys",
  tags: ["auth"],
  summary: "List your API keys that still work (never the keys themselves)",
  security: bearer,
  responses: { 200: json(z.object({ items: z.array(ApiKeyInfo) }).meta({ id: "ApiKeyList" }), "Your keys, newest first"), ...errorResponses(401, 429) },
});

const createKeyRoute = createRoute({
  method: "post",
  path: "/v1/keys",
  tags: ["auth"],
  summary: "Create a named API key with an expiry",
  description: "The key is returned only in this response; the platform keeps its SHA-256. At most 50 unexpired keys per account (`too-many-api-keys`).",
  security: bearer,
  request: { body: jsonBody(CreateApiKeyInput) },
  responses: { 201: json(CreatedKey, "The new key"), ...errorResponses(400, 401, 409, 413, 415, 429) },
});

const revokeRoute = createRoute({
  method: "delete",
  path: "/v1/keys/{id}",
  tags: ["auth"],
  summary: "Revoke an API key (it stops working at once)",
  security: bearer,
  request: { params: KeyParams },
  responses: { 204: { description: "Revoked" }, ...errorResponses(400, 401, 404, 429) },
});

/** API key management for the signed-in account. */
export function keyRoutes(app: App, deps: CoreDeps): void {
  app.openapi(listRoute, async (c) => c.json({ items: await listApiKeys(deps, c.get("caller")) }, 200));
  app.openapi(createKeyRoute, async (c) => c.json(await createApiKey(deps, c.get("caller"), c.req.valid("json")), 201));
  app.openapi(revokeRoute, async (c) => {
    await revokeApiKey(deps, c.get("caller"), c.req.valid("param").id);
    return c.body(null, 204);
  });
}
