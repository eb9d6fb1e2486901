import { createHash } from "node:crypto";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { describe, expect, it } from "vitest";
import type { DatabaseSync } from "node:sqlite";
import { Logger } from "@aws-lambda-powertools/logger";
import { completePublish, PublishMessage } from "../../core/datanets/versions.ts";
import { ingestObject } from "../../core/ingest/ingest-object.ts";
import { createPublishVersionHandler } from "../../functions/handlers/publish-version.ts";
import { sqsEvent, sqsRecord, testContext } from "../../functions/handlers/test-events.ts";
import { PROBLEM_BASE } from "../problem.ts";
import { signedInClient, testApp } from "../test-support.ts";

/** A Datanet of alice's with one ingested plain-text upload (a duplicate line is rejected). */
async function datanetWithData() {
  const { app, deps } = testApp();
  const alice = await signedInClient(app);
  const bob = await signedInClient(app);
  const { id } = (await (await alice.request("/v1/datanets", { json: { name: "Proverbs", license: "CC0-1.0", schema: "text" } })).json()) as { id: string };
  const body = "A stitch in time saves nine.\nLook before you leap.\nLook before you leap.\n";
  const sha256 = createHash("sha256").update(body).digest("hex");
  const size = Buffer.byteLength(body);
  const { uploadId } = (await (await bob.request(`/v1/datanets/${id}/uploads`, { json: { filename: "proverbs.txt", contentType: "text/plain", size, sha256 } })).json()) as { uploadId: string };
  // The bytes land in the store, and the store's notification runs ingest.
  const key = `uploads/${id}/${uploadId}`;
  await deps.blobs.put(key, body, { contentType: "text/plain" });
  await ingestObject(deps, { key, size });
  return { app, deps, alice, bob, id, uploadId };
}

describe("version routes", () => {
  it("reports the ingested counts on the upload", async () => {
    const { bob, id, uploadId } = await datanetWithData();
    const upload = await (await bob.request(`/v1/datanets/${id}/uploads/${uploadId}`)).json();
    expect(upload).toMatchObject({ status: "done", accepted: 2, rejected: 1 });
  });

  it("lets only the owner publish; the proof verifies against the root", async () => {
    // Prepare
    const { alice, bob, id } = await datanetWithData();
    // Act
    const denied = await bob.request(`/v1/datanets/${id}/versions`, { method: "POST" });
    const res = await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" });
    // Assess
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}forbidden`);
    expect(res.status).toBe(201);
    const version = (await res.json()) as { version: number; root: string; records: number; tokens: number };
    expect(version).toMatchObject({ version: 1, records: 2, root: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(version.tokens).toBeGreaterThan(0);
    expect(await (await bob.request(`/v1/datanets/${id}/versions/1`)).json()).toEqual({ ...version, chain: { status: "pending", txHash: null, blockNumber: null, chainId: null } });

    const { items } = (await (await bob.request(`/v1/datanets/${id}/contributions?status=accepted`)).json()) as { items: { id: string; contributor: string }[] };
    expect(items).toHaveLength(2);
    const proofRes = await bob.request(`/v1/datanets/${id}/versions/1/proof?contribution=${items[1]!.id}`);
    expect(proofRes.status).toBe(200);
    const proof = (await proofRes.json()) as { root: string; leafEncoding: string[]; leaf: [string, string, string]; proof: string[] };
    expect(proof.root).toBe(version.root);
    expect(proof.leaf[0]).toBe(bob.address);
    expect(StandardMerkleTree.verify(proof.root, proof.leafEncoding, proof.leaf, proof.proof)).toBe(true);
  });

  it("answers a bad version number with 400 and a missing version or contribution with 404", async () => {
    const { alice, id } = await datanetWithData();
    expect((await alice.request(`/v1/datanets/${id}/versions/zero`)).status).toBe(400);
    expect((await alice.request(`/v1/datanets/${id}/versions/7`)).status).toBe(404);
    await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" });
    expect((await alice.request(`/v1/datanets/${id}/versions/1/proof?contribution=ct_nope`)).status).toBe(404);
    expect((await alice.request(`/v1/datanets/${id}/versions/1/proof`)).status).toBe(400);
  });

  it("reads a version number only in its canonical decimal spelling", async () => {
    // Prepare: version 1 exists.
    const { alice, id } = await datanetWithData();
    await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" });
    const contribution = ((await (await alice.request(`/v1/datanets/${id}/contributions`)).json()) as { items: { id: string }[] }).items[0]!.id;
    expect((await alice.request(`/v1/datanets/${id}/versions/1`)).status).toBe(200);
    // Act and assess: every other spelling of 1 (and of nothing) is a 400, on the version and on its proof.
    for (const spelling of ["01", "+1", "0x1", "1e0", "1.0", "%201", "1%20", "0b1", "0o1", "Infinity", "-0", "0", "1000001"]) {
      for (const path of [`/v1/datanets/${id}/versions/${spelling}`, `/v1/datanets/${id}/versions/${spelling}/proof?contribution=${contribution}`]) {
        const res = await alice.request(path);
        expect(res.status, path).toBe(400);
        expect(((await res.json()) as { type: string }).type, path).toBe(`${PROBLEM_BASE}validation-failed`);
      }
    }
  });

  it("refuses to publish an empty Datanet with 409", async () => {
    const { app } = testApp();
    const alice = await signedInClient(app);
    const { id } = (await (await alice.request("/v1/datanets", { json: { name: "Empty", license: "MIT", schema: "text" } })).json()) as { id: string };
    const res = await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}nothing-to-publish`);
  });
});

describe("publishing a large Datanet in the background", () => {
  it("answers 202 with a Location; the owner polls 202 until the versions consumer built it, then 200 with the same root", async () => {
    // Prepare: a Datanet above the in-request limit (2 records here).
    const { deps, alice, bob, id } = await datanetWithData();
    deps.config.syncPublishMaxRecords = 1;
    // Act
    const res = await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" });
    // Assess: reserved, queued, pollable by the owner only.
    expect(res.status).toBe(202);
    expect(res.headers.get("location")).toBe(`/v1/datanets/${id}/versions/1`);
    expect(await res.json()).toMatchObject({ datanetId: id, version: 1, state: "publishing", records: 2 });
    const poll = () => alice.request(`/v1/datanets/${id}/versions/1`);
    expect((await poll()).status).toBe(202);
    expect((await bob.request(`/v1/datanets/${id}/versions/1`)).status).toBe(404);
    // A second publish meanwhile does not take the same number.
    expect((await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" })).status).toBe(409);
    const sent = deps.sent.filter((m) => m.queue === "versions");
    expect(sent).toHaveLength(1);

    // The consumer builds it; a duplicate message changes nothing.
    const handler = createPublishVersionHandler(deps, { logger: new Logger({ logLevel: "SILENT" }) });
    const message = sqsRecord("m1", sent[0]!.body);
    expect(await handler(sqsEvent(message, sqsRecord("m2", sent[0]!.body)), testContext())).toEqual({ batchItemFailures: [] });
    const published = await poll();
    expect(published.status).toBe(200);
    const version = (await published.json()) as { root: string; records: number };
    expect(version.records).toBe(2);
    const proof = (await (await alice.request(`/v1/datanets/${id}/versions/1/proof?contribution=${(await firstContribution(alice, id))}`)).json()) as { root: string; leaf: string[]; proof: string[] };
    expect(StandardMerkleTree.verify(version.root, ["address", "bytes32", "uint256"], proof.leaf, proof.proof)).toBe(true);
    expect(eventsOf(deps, "datanet.version.published")).toBe(1);
  });

  it("marks a build failed on its last attempt, shows the reason, and the next publish takes the number over", async () => {
    const { deps, alice, id } = await datanetWithData();
    deps.config.syncPublishMaxRecords = 1;
    await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" });
    const message = PublishMessage.parse(deps.sent.find((m) => m.queue === "versions")!.body);
    // The accepted-records blob vanished: the build cannot succeed.
    for (const key of await deps.blobs.list(`datanets/${id}/accepted/`)) await deps.blobs.delete(key);
    await expect(completePublish(deps, message, { finalAttempt: false })).rejects.toThrow();
    expect(((await (await alice.request(`/v1/datanets/${id}/versions/1`)).json()) as { state: string }).state).toBe("publishing");
    await expect(completePublish(deps, message, { finalAttempt: true })).rejects.toThrow();
    const failed = await alice.request(`/v1/datanets/${id}/versions/1`);
    expect(failed.status).toBe(202);
    expect(await failed.json()).toMatchObject({ state: "failed", error: expect.stringMatching(/missing/) });
    const again = await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" });
    expect(again.status).toBe(202);
    expect(((await again.json()) as { version: number }).version).toBe(1);
  });
});

async function firstContribution(client: { request: (path: string) => Response | Promise<Response> }, datanetId: string): Promise<string> {
  const page = (await (await client.request(`/v1/datanets/${datanetId}/contributions?status=accepted`)).json()) as { items: { id: string }[] };
  return page.items[0]!.id;
}

function eventsOf(deps: { db: DatabaseSync }, type: string): number {
  return (deps.db.prepare("SELECT new_image FROM stream_records WHERE new_image LIKE ?").all(`%"type":"${type}"%`) as unknown[]).length;
}
