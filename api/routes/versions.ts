import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { getVersionChainStatus } from "../../core/chain/datanet-versions.ts";
import { ChainStatus } from "../../core/chain/model.ts";
import { DatanetVersion, Proof } from "../../core/datanets/model.ts";
import { getProof, getPublication, getVersion, requestPublish, VersionPublication } from "../../core/datanets/versions.ts";
import { NotFoundError } from "../../core/errors.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, canonicalInteger, errorResponses, json, optionalBearer } from "../openapi.ts";
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
  description:
    "Freezes the accepted contributions and computes their Merkle root (OpenZeppelin StandardMerkleTree). " +
    "A Datanet of up to 50,000 accepted records (configurable) is published in the request (201). A larger one is built by a background job: " +
    "the answer is 202 with the version number reserved and a `Location` to poll, which answers 202 with its state until the version is published (200).",
  security: bearer,
  request: { params: DatanetParams },
  responses: {
    201: json(DatanetVersion, "The new version"),
    202: json(VersionPublication, "The version is being built in the background; poll `Location`"),
    ...errorResponses(401, 403, 404, 409),
  },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}/versions/{version}",
  tags: ["versions"],
  summary: "Get a published version (or, for its owner, one still being built)",
  security: optionalBearer,
  request: { params: VersionParams },
  responses: {
    200: json(VersionWithChain, "The version and its publication on chain"),
    202: json(VersionPublication, "The Datanet's owner asked for a version still being built (`publishing`), or whose build failed (`failed`, with `error`)"),
    ...errorResponses(400, 401, 404),
  },
});

const proofRoute = createRoute({
  method: "get",
  path: "/v1/datanets/{id}/versions/{version}/proof",
  tags: ["versions"],
  summary: "Merkle inclusion proof of a contribution in a version",
  security: optionalBearer,
  request: {
    params: VersionParams,
    query: z.object({ contribution: z.string().min(1).max(64).meta({ description: "Contribution id" }) }),
  },
  responses: { 200: json(Proof, "Root, leaf and proof; verifies with OpenZeppelin MerkleProof"), ...errorResponses(400, 401, 404) },
});

/** Datanet versions and inclusion proofs. */
export function versionRoutes(app: App, deps: CoreDeps): void {
  app.openapi(publishRoute, async (c) => {
    const id = c.req.valid("param").id;
    const outcome = await requestPublish(deps, c.get("caller"), id);
    if ("published" in outcome) return c.json(outcome.published, 201);
    c.header("location", `/v1/datanets/${id}/versions/${outcome.publishing.version}`);
    return c.json(outcome.publishing, 202);
  });
  app.openapi(getRoute, async (c) => {
    const { id, version } = c.req.valid("param");
    const caller = c.get("caller");
    try {
      const found = await getVersion(deps, caller, id, version);
      return c.json({ ...found, chain: await getVersionChainStatus(deps, id, version) }, 200);
    } catch (error) {
      // Not published: its owner may be polling a background publish.
      if (!(error instanceof NotFoundError)) throw error;
      const pending = await getPublication(deps, caller, id, version).catch(() => undefined);
      if (!pending) throw error;
      return c.json(pending, 202);
    }
  });
  app.openapi(proofRoute, async (c) => {
    const { id, version } = c.req.valid("param");
    return c.json(await getProof(deps, c.get("caller"), id, version, c.req.valid("query").contribution), 200);
  });
}
