import { createHash } from "node:crypto";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { describe, expect, it } from "vitest";
import { ingestObject } from "../../core/ingest/ingest-object.ts";
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
