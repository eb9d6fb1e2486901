import { describe, expect, it } from "vitest";
import { PROBLEM_BASE, PROBLEM_CONTENT_TYPE } from "../problem.ts";
import { signedInClient, testApp } from "../test-support.ts";

const datanet = {
  name: "Medical QA",
  description: "Question and answer pairs",
  license: "CC-BY-4.0",
  schema: "instruction",
  visibility: "public",
  tags: ["medical", "qa"],
};

async function setup() {
  const { app, deps } = testApp();
  const alice = await signedInClient(app);
  const bob = await signedInClient(app);
  return { app, deps, alice, bob };
}

async function problemType(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toBe(PROBLEM_CONTENT_TYPE);
  return ((await res.json()) as { type: string }).type.slice(PROBLEM_BASE.length);
}

describe("datanet routes", () => {
  it("creates a Datanet (201 with id) and reads it back", async () => {
    const { alice } = await setup();
    const res = await alice.request("/v1/datanets", { json: datanet });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; owner: string };
    expect(created).toMatchObject({ ...datanet, owner: alice.address, versions: 0 });
    const got = await alice.request(`/v1/datanets/${created.id}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual(created);
  });

  it("refuses an invalid Datanet with 400 validation-failed", async () => {
    const { alice } = await setup();
    const res = await alice.request("/v1/datanets", { json: { ...datanet, name: "x", extra: 1 } });
    expect(res.status).toBe(400);
    expect(await problemType(res)).toBe("validation-failed");
  });

  it("hides another account's private Datanet from get, search and uploads", async () => {
    const { alice, bob } = await setup();
    const { id } = (await (await alice.request("/v1/datanets", { json: { ...datanet, visibility: "private", name: "Secret set" } })).json()) as { id: string };

    const get = await bob.request(`/v1/datanets/${id}`);
    expect(get.status).toBe(404);
    expect(await problemType(get)).toBe("not-found");
    const search = (await (await bob.request("/v1/datanets?q=secret")).json()) as { items: unknown[] };
    expect(search.items).toEqual([]);
    const upload = await bob.request(`/v1/datanets/${id}/uploads`, {
      json: { filename: "a.jsonl", contentType: "application/jsonl", size: 10, sha256: "0".repeat(64) },
    });
    expect(upload.status).toBe(404);
    expect((await bob.request(`/v1/datanets/${id}/contributions`)).status).toBe(404);

    const own = (await (await alice.request("/v1/datanets?q=secret")).json()) as { items: { id: string }[] };
    expect(own.items.map((d) => d.id)).toEqual([id]);
  });

  it("searches by words and tag", async () => {
    const { alice, bob } = await setup();
    await alice.request("/v1/datanets", { json: datanet });
    await alice.request("/v1/datanets", { json: { ...datanet, name: "Legal contracts", tags: ["legal"] } });
    const byTag = (await (await bob.request("/v1/datanets?tag=legal")).json()) as { items: { name: string }[] };
    expect(byTag.items.map((d) => d.name)).toEqual(["Legal contracts"]);
    const byWord = (await (await bob.request("/v1/datanets?q=medical")).json()) as { items: { name: string }[] };
    expect(byWord.items.map((d) => d.name)).toEqual(["Medical QA"]);
  });

  it("refuses a forged cursor and a bad limit with 400", async () => {
    const { alice } = await setup();
    const forged = await alice.request("/v1/datanets?cursor=bm90LWEtY3Vyc29y");
    expect(forged.status).toBe(400);
    expect(await problemType(forged)).toBe("invalid-cursor");
    const limit = await alice.request("/v1/datanets?limit=0");
    expect(limit.status).toBe(400);
  });
});

describe("upload and contribution routes", () => {
  it("starts an upload (201 with a signed URL) and reports its status and counts", async () => {
    const { alice, bob } = await setup();
    const { id } = (await (await alice.request("/v1/datanets", { json: datanet })).json()) as { id: string };
    const res = await bob.request(`/v1/datanets/${id}/uploads`, {
      json: { filename: "qa.jsonl", contentType: "application/jsonl", size: 120, sha256: "a".repeat(64) },
    });
    expect(res.status).toBe(201);
    const started = (await res.json()) as { uploadId: string };
    expect(started).toEqual({ uploadId: expect.stringMatching(/^up_/), method: "PUT", url: expect.any(String), headers: expect.any(Object), expiresAt: expect.any(String) });

    const status = await bob.request(`/v1/datanets/${id}/uploads/${started.uploadId}`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ uploadId: started.uploadId, status: "pending", accepted: 0, rejected: 0 });
    expect((await alice.request(`/v1/datanets/${id}/uploads/${started.uploadId}`)).status).toBe(200);
    expect((await alice.request(`/v1/datanets/${id}/uploads/up_nope`)).status).toBe(404);
  });

  it("refuses a bad upload declaration with 400", async () => {
    const { alice } = await setup();
    const { id } = (await (await alice.request("/v1/datanets", { json: datanet })).json()) as { id: string };
    const res = await alice.request(`/v1/datanets/${id}/uploads`, { json: { filename: "qa.jsonl", contentType: "application/jsonl", size: -1, sha256: "xyz" } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { path: string }[] };
    expect(body.errors.map((e) => e.path).sort()).toEqual(["sha256", "size"]);
  });

  it("lists contributions as a page and validates the status filter", async () => {
    const { alice } = await setup();
    const { id } = (await (await alice.request("/v1/datanets", { json: datanet })).json()) as { id: string };
    const res = await alice.request(`/v1/datanets/${id}/contributions?status=accepted`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: [] });
    const bad = await alice.request(`/v1/datanets/${id}/contributions?status=maybe`);
    expect(bad.status).toBe(400);
    expect(await problemType(bad)).toBe("validation-failed");
  });
});
