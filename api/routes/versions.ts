import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { DatanetVersion, Proof } from "../../core/datanets/model.ts";
import { getProof, getVersion, publishVersion } from "../../core/datanets/versions.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, errorResponses, json } from "../openapi.ts";
import { DatanetParams } from "./datanets.ts";

const VersionParams = DatanetParams.extend({
  version: z.coerce.number().int().positive().max(1_000_000).meta({ description: "Version number, from 1" }),
});

const publishRoute = createRoute({
  method: "post",
  path: "/v1/datanets/{id}/versions",
  tags: ["versions"],
  summary: "Publish a version (owner only)",
  description: "Freezes the accepted contributions and computes their Merkle root (OpenZeppelin StandardMerkleTree).",
  security: bearer,
  request: { params: DatanetParams },
  responses: { 201: json(DatanetVersion, "The new version"), ...errorResponses(401, 403, 404, 409) },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}/versions/{version}",
  tags: ["versions"],
  summary: "Get a published version",
  security: bearer,
  request: { params: VersionParams },
  responses: { 200: json(DatanetVersion, "The version"), ...errorResponses(400, 401, 404) },
});

const proofRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}/versions/{version}/proof",
  tags: ["versions"],
  summary: "Merkle inclusion proof of a contribution in a version",
  security: bearer,
  request: {
    params: VersionParams,
    query: z.object({ contribution: z.string().min(1).max(64).meta({ description: "Contribution id" }) }),
  },
  responses: { 200: json(Proof, "Root, leaf and proof; verifies with OpenZeppelin MerkleProof"), ...errorResponses(400, 401, 404) },
});

/** Datanet versions and inclusion proofs. */
export function versionRoutes(app: App, deps: CoreDeps): void {
  app.openapi(publishRoute, async (c) => c.json(await publishVersion(deps, c.get("caller"), c.req.valid("param").id), 201));
  app.openapi(getRoute, async (c) => {
    const { id, version } = c.req.valid("param");
    return c.json(await getVersion(deps, c.get("caller"), id, version), 200);
  });
  app.openapi(proofRoute, async (c) => {
    const { id, version } = c.req.valid("param");
    return c.json(await getProof(deps, c.get("caller"), id, version, c.req.valid("query").contribution), 200);
  });
}
