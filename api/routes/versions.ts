import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { getVersionChainStatus } from "../../core/chain/datanet-versions.ts";
import { ChainStatus } from "../../core/chain/model.ts";
import { DatanetVersion, Proof } from "../../core/datanets/model.ts";
import { getProof, getVersion, publishVersion } from "../../core/datanets/versions.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, canonicalInteger, errorResponses, json } from "../openapi.ts";
import { DatanetParams } from "./datanets.ts";

const VersionParams = DatanetParams.extend({
  version: canonicalInteger(1, 1_000_000).meta({ description: "Version number, from 1, in decimal without leading zeros" }),
});

/** A version as GET shows it: with the state of its `publishVersion` transaction on chain. */
const VersionWithChain = DatanetVersion.extend({ chain: ChainStatus }).meta({ id: "DatanetVersionWithChain" });

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
  responses: { 200: json(VersionWithChain, "The version and its publication on chain"), ...errorResponses(400, 401, 404) },
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
    const found = await getVersion(deps, c.get("caller"), id, version);
    return c.json({ ...found, chain: await getVersionChainStatus(deps, id, version) }, 200);
  });
  app.openapi(proofRoute, async (c) => {
    const { id, version } = c.req.valid("param");
    return c.json(await getProof(deps, c.get("caller"), id, version, c.req.valid("query").contribution), 200);
  });
}
