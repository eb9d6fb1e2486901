import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ingestObject } from "../../core/ingest/ingest-object.ts";
import { signedInClient, testApp } from "../test-support.ts";

/** Uploads `body` as `filename` by `client` and runs ingest on it. */
async function upload(t: ReturnType<typeof testApp>, client: Awaited<ReturnType<typeof signedInClient>>, id: string, filename: string, body: string) {
  const sha256 = createHash("sha256").update(body).digest("hex");
  const res = await client.request(`/v1/datanets/${id}/uploads`, { json: { filename, contentType: "text/plain", size: Buffer.byteLength(body), sha256 } });
  const { uploadId } = (await res.json()) as { uploadId: string };
  const key = `uploads/${id}/${uploadId}`;
  await t.deps.blobs.put(key, body, { contentType: "text/plain" });
  await ingestObject(t.deps, { key, size: Buffer.byteLength(body) });
  return uploadId;
}

describe("GET /v1/datanets/{id}/stats", () => {
  it("counts records, tokens and contributors, buckets lengths, names the uploads and what is unpublished", async () => {
    // Prepare: alice's public Datanet; two contributors, one duplicate line rejected.
    const t = testApp();
    const alice = await signedInClient(t.app);
    const bob = await signedInClient(t.app);
    const { id } = (await (await alice.request("/v1/datanets", { json: { name: "Proverbs", license: "CC0-1.0", schema: "text" } })).json()) as { id: string };
    const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
    await upload(t, alice, id, "short.txt", "A stitch in time saves nine.\nLook before you leap.\nLook before you leap.\n");
    await upload(t, bob, id, "long.txt", `${long}\n`);

    // Act
    const res = await bob.request(`/v1/datanets/${id}/stats`);

    // Assess
    expect(res.status).toBe(200);
    const stats = (await res.json()) as Record<string, unknown> & { lengthHistogram: { minTokens: number; maxTokens: number | null; count: number }[]; tokens: number };
    expect(stats).toMatchObject({ datanetId: id, accepted: 3, rejected: 1, contributors: 2, unpublished: 3, complete: true });
    const { items } = (await (await bob.request(`/v1/datanets/${id}/contributions?status=accepted`)).json()) as { items: { tokens: number }[] };
    expect(stats.tokens).toBe(items.reduce((n, c) => n + c.tokens, 0));
    // Every accepted record in exactly the bucket its token count falls in.
    expect(stats.lengthHistogram.reduce((n, b) => n + b.count, 0)).toBe(3);
    for (const c of items) {
      const bucket = stats.lengthHistogram.find((b) => c.tokens >= b.minTokens && (b.maxTokens === null || c.tokens <= b.maxTokens))!;
      expect(bucket.count).toBeGreaterThan(0);
    }
    expect(stats.lengthHistogram[0]).toEqual({ minTokens: 0, maxTokens: 7, count: expect.any(Number) });
    expect(stats.lengthHistogram.at(-1)!.maxTokens).toBeNull();
    expect((stats.uploads as { filename: string; accepted: number }[]).map((u) => [u.filename, u.accepted]).sort()).toEqual([["long.txt", 1], ["short.txt", 2]]);

    // After a version, nothing is unpublished until new records come.
    expect((await alice.request(`/v1/datanets/${id}/versions`, { method: "POST" })).status).toBe(201);
    expect(await (await alice.request(`/v1/datanets/${id}/stats`)).json()).toMatchObject({ unpublished: 0 });
    await upload(t, bob, id, "more.txt", "Fortune favours the bold.\n");
    expect(await (await alice.request(`/v1/datanets/${id}/stats`)).json()).toMatchObject({ unpublished: 1, accepted: 4 });
  });

  it("is 404 for a private Datanet to others, signed in or not", async () => {
    const t = testApp();
    const alice = await signedInClient(t.app);
    const bob = await signedInClient(t.app);
    const { id } = (await (await alice.request("/v1/datanets", { json: { name: "Secret notes", license: "CC0-1.0", schema: "text", visibility: "private" } })).json()) as { id: string };
    expect((await alice.request(`/v1/datanets/${id}/stats`)).status).toBe(200);
    expect((await bob.request(`/v1/datanets/${id}/stats`)).status).toBe(404);
    // A public read: without a key it answers as for an account that owns nothing.
    expect((await t.app.request(`/v1/datanets/${id}/stats`)).status).toBe(404);
  });
});
