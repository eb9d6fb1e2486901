import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { afterEach, describe, expect, it } from "vitest";
import type { BlobStore, PresignedUpload } from "../../core/ports/blob-store.ts";

export interface BlobStoreFixture {
  store: BlobStore;
  cleanup: () => Promise<void>;
}

export interface BlobStoreConformanceOptions {
  /**
   * Assertions this adapter cannot make here, each with the reason (an
   * emulator gap, never a store gap): that the presigned PUT refuses a body
   * whose hash, or whose size, differs from the one signed; that a tampered
   * presigned download URL is refused.
   */
  skip?: { refusesWrongHash?: string; refusesWrongSize?: string; refusesTamperedDownload?: string };
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** PUTs `body` the way a browser would: the given headers, less content-length, which fetch sets from the body. */
async function upload(presigned: PresignedUpload, body: Uint8Array): Promise<Response> {
  const headers = Object.fromEntries(Object.entries(presigned.headers).filter(([name]) => name.toLowerCase() !== "content-length"));
  return fetch(presigned.url, { method: presigned.method, headers, body: new Uint8Array(body) });
}

async function text(store: BlobStore, key: string): Promise<string | undefined> {
  const stream = await store.get(key);
  return stream ? (await buffer(stream)).toString("utf8") : undefined;
}

/**
 * The behaviour every BlobStore must share (disk locally, S3 on AWS).
 * `makeStore` gives a fresh, empty store per test.
 */
export function describeBlobStoreConformance(
  name: string,
  makeStore: () => Promise<BlobStoreFixture>,
  options: BlobStoreConformanceOptions = {},
): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let fixture: BlobStoreFixture | undefined;
    const fresh = async () => {
      fixture = await makeStore();
      return fixture.store;
    };
    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    it("puts strings, bytes and streams and reads them back", async () => {
      const store = await fresh();
      await store.put("a/text.txt", "héllo", { contentType: "text/plain" });
      await store.put("a/bytes.bin", new Uint8Array([0, 1, 2, 255]));
      await store.put("a/stream.jsonl", Readable.from([Buffer.from('{"a":1}\n'), Buffer.from('{"a":2}\n')]), {
        contentType: "application/x-ndjson",
      });
      expect(await text(store, "a/text.txt")).toBe("héllo");
      expect([...(await buffer((await store.get("a/bytes.bin"))!))]).toEqual([0, 1, 2, 255]);
      expect(await text(store, "a/stream.jsonl")).toBe('{"a":1}\n{"a":2}\n');
      expect(await store.head("a/text.txt")).toMatchObject({ key: "a/text.txt", size: 6, contentType: expect.stringMatching(/^text\/plain/) });
      expect(await store.head("a/stream.jsonl")).toMatchObject({ size: 16 });
    });

    it("reads from a byte offset on (a resumed read: S3 range GET)", async () => {
      const store = await fresh();
      await store.put("r/data.bin", Buffer.from("0123456789"));
      expect((await buffer((await store.get("r/data.bin", { start: 4 }))!)).toString()).toBe("456789");
      expect((await buffer((await store.get("r/data.bin", { start: 0 }))!)).toString()).toBe("0123456789");
    });

    it("overwrites an object", async () => {
      const store = await fresh();
      await store.put("k", "first");
      await store.put("k", "second");
      expect(await text(store, "k")).toBe("second");
    });

    it("answers undefined for a missing object and deletes idempotently", async () => {
      const store = await fresh();
      expect(await store.get("missing/key")).toBeUndefined();
      expect(await store.head("missing/key")).toBeUndefined();
      await store.put("gone/soon", "x");
      await store.delete("gone/soon");
      expect(await store.head("gone/soon")).toBeUndefined();
      await store.delete("gone/soon");
    });

    it("lists keys under a prefix in lexicographic order", async () => {
      const store = await fresh();
      for (const key of ["d/2/b", "d/10", "d/2/a", "d/1", "e/1", "dd/1"]) await store.put(key, key);
      expect(await store.list("d/")).toEqual(["d/1", "d/10", "d/2/a", "d/2/b"]);
      expect(await store.list("d/2/")).toEqual(["d/2/a", "d/2/b"]);
      expect(await store.list("none/")).toEqual([]);
    });

    it("presigns an upload that a client completes with the given url and headers", async () => {
      const store = await fresh();
      const body = Buffer.from('{"text":"hello"}\n'.repeat(100));
      const before = Date.now();
      const presigned = await store.presignUpload({
        key: "uploads/ds/u1.jsonl",
        contentType: "application/x-ndjson",
        size: body.length,
        sha256: sha256(body),
        expiresInSeconds: 300,
      });
      expect(presigned.method).toBe("PUT");
      expect(Date.parse(presigned.expiresAt)).toBeGreaterThanOrEqual(before + 299_000);
      expect(Date.parse(presigned.expiresAt)).toBeLessThanOrEqual(Date.now() + 301_000);
      const response = await upload(presigned, body);
      expect(response.status, await response.text()).toBeLessThan(300);
      expect(await store.head("uploads/ds/u1.jsonl")).toMatchObject({ size: body.length, contentType: "application/x-ndjson" });
      expect(await text(store, "uploads/ds/u1.jsonl")).toBe(body.toString());
    });

    it.skipIf(options.skip?.refusesWrongHash !== undefined)("refuses a presigned upload whose body hashes otherwise", async () => {
      const store = await fresh();
      const body = Buffer.from("the agreed body");
      const presigned = await store.presignUpload({ key: "uploads/x", contentType: "text/plain", size: body.length, sha256: sha256(body), expiresInSeconds: 60 });
      const response = await upload(presigned, Buffer.from("a forged body!!"));
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(await store.head("uploads/x")).toBeUndefined();
    });

    it.skipIf(options.skip?.refusesWrongSize !== undefined)("refuses a presigned upload of another size", async () => {
      const store = await fresh();
      const body = Buffer.from("the agreed body");
      const presigned = await store.presignUpload({ key: "uploads/y", contentType: "text/plain", size: body.length, sha256: sha256(body), expiresInSeconds: 60 });
      const response = await upload(presigned, Buffer.concat([body, Buffer.from(" and more")]));
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(await store.head("uploads/y")).toBeUndefined();
    });

    it("presigns a download that returns the object's bytes as an attachment", async () => {
      const store = await fresh();
      const body = Buffer.from([0, 1, 2, 254, 255, ...Buffer.from("safetensors")]);
      await store.put("jobs/j1/output/adapter/adapter_model.safetensors", body, { contentType: "application/octet-stream" });
      const before = Date.now();
      const presigned = await store.presignDownload("jobs/j1/output/adapter/adapter_model.safetensors", {
        expiresInSeconds: 300,
        filename: "adapter_model.safetensors",
      });
      expect(Date.parse(presigned.expiresAt)).toBeGreaterThanOrEqual(before - 1000 + 299_000);
      expect(Date.parse(presigned.expiresAt)).toBeLessThanOrEqual(Date.now() + 301_000);
      const response = await fetch(presigned.url);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-disposition")).toBe('attachment; filename="adapter_model.safetensors"');
      expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
    });

    it("refuses to presign a download with an unsafe filename or lifetime", async () => {
      const store = await fresh();
      await expect(store.presignDownload("k", { expiresInSeconds: 60, filename: 'a"; x=y' })).rejects.toThrow(/filename/);
      await expect(store.presignDownload("k", { expiresInSeconds: 0 })).rejects.toThrow(/expiresInSeconds/);
    });

    // Expiry is checked with a hand-moved clock in adapters/local/download-route.test.ts (waiting here would slow the suite).
    it.skipIf(options.skip?.refusesTamperedDownload !== undefined)("refuses a tampered download URL", async () => {
      const store = await fresh();
      await store.put("secret/a", "A");
      await store.put("secret/b", "B");
      const { url } = await store.presignDownload("secret/a", { expiresInSeconds: 60 });
      const tampered = new URL(url);
      tampered.searchParams.set("key", "secret/b");
      expect((await fetch(tampered)).status).toBe(403);
      const longer = new URL(url);
      longer.searchParams.set("expires", String(Number(longer.searchParams.get("expires") ?? 0) + 3600));
      expect((await fetch(longer)).status).toBe(403);
    });

    it("refuses to presign with a malformed hash or size", async () => {
      const store = await fresh();
      const base = { key: "uploads/z", contentType: "text/plain", size: 3, sha256: "a".repeat(64), expiresInSeconds: 60 };
      await expect(store.presignUpload({ ...base, sha256: "xyz" })).rejects.toThrow(/sha256/);
      await expect(store.presignUpload({ ...base, size: -1 })).rejects.toThrow(/size/);
    });
  });
}
