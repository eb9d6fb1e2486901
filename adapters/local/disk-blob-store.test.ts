import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../core/errors.ts";
import { InvalidBlobKeyError } from "./blob-key.ts";
import { DiskBlobStore } from "./disk-blob-store.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";
import { verifyUploadQuery } from "./upload-signature.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const root = mkdtempSync(join(tmpdir(), "mf-blobs-"));
  dirs.push(root);
  const clock = new FakeClock();
  const blobs = new DiskBlobStore({ root, apiOrigin: "http://localhost:8787", secret: "s3cret", clock });
  return { root, clock, blobs };
}

const read = async (blobs: DiskBlobStore, key: string) => {
  const stream = await blobs.get(key);
  return stream ? text(stream) : undefined;
};

describe("DiskBlobStore", () => {
  it("puts strings, bytes and streams, and reads them back with head", async () => {
    const { blobs } = setup();
    await blobs.put("d/1/a.txt", "hello", { contentType: "text/plain; charset=utf-8" });
    await blobs.put("d/1/b.bin", new Uint8Array([1, 2, 3]));
    await blobs.put("d/2/c.jsonl", Readable.from(["{}\n", "{}\n"]), { contentType: "application/jsonl" });
    expect(await read(blobs, "d/1/a.txt")).toBe("hello");
    expect(await blobs.head("d/1/a.txt")).toEqual({ key: "d/1/a.txt", size: 5, contentType: "text/plain; charset=utf-8" });
    expect(await blobs.head("d/1/b.bin")).toEqual({ key: "d/1/b.bin", size: 3 });
    expect(await read(blobs, "d/2/c.jsonl")).toBe("{}\n{}\n");
    expect(await blobs.get("nope")).toBeUndefined();
    expect(await blobs.head("nope")).toBeUndefined();
  });

  it("overwrites atomically and drops the old content type", async () => {
    const { blobs } = setup();
    await blobs.put("k", "old", { contentType: "text/plain" });
    const reading = await blobs.get("k");
    await blobs.put("k", "newer");
    expect(await text(reading!)).toBe("old"); // an open reader keeps the bytes it opened
    expect(await read(blobs, "k")).toBe("newer");
    expect(await blobs.head("k")).toEqual({ key: "k", size: 5 });
  });

  it("leaves nothing behind when a streamed put fails", async () => {
    const { blobs, root } = setup();
    const failing = Readable.from(
      (async function* () {
        yield "partial";
        throw new Error("client went away");
      })(),
    );
    await expect(blobs.put("k", failing)).rejects.toThrow(/went away/);
    expect(await blobs.head("k")).toBeUndefined();
    expect(readdirSync(join(root, "tmp"))).toEqual([]);
  });

  it("cleans up temp files a crash left behind", async () => {
    const { blobs, root } = setup();
    await blobs.put("k", "x");
    mkdirSync(join(root, "tmp"), { recursive: true });
    writeFileSync(join(root, "tmp", "left-over"), "partial");
    expect(await blobs.cleanTemp(60_000)).toBe(0); // too young: may be a write in progress
    expect(await blobs.cleanTemp(0)).toBe(1);
    expect(readdirSync(join(root, "tmp"))).toEqual([]);
    expect(await read(blobs, "k")).toBe("x");
  });

  it("deletes objects and the directories they leave empty", async () => {
    const { blobs, root } = setup();
    await blobs.put("a/b/c", "1", { contentType: "text/plain" });
    await blobs.put("a/x", "2");
    await blobs.delete("a/b/c");
    await blobs.delete("a/b/c"); // deleting a missing object is no error, as on S3
    expect(await blobs.head("a/b/c")).toBeUndefined();
    expect(existsSync(join(root, "objects", "a", "b"))).toBe(false);
    expect(await blobs.list("")).toEqual(["a/x"]);
  });

  it("lists keys by prefix in byte order, with a key and its 'children' side by side as on S3", async () => {
    const { blobs } = setup();
    const keys = ["b/2", "a/b", "a/b/c", "a/bc", "a/b c@x%y", "a/é", "a/z", "ab"];
    for (const k of keys) await blobs.put(k, k);
    expect(await blobs.list("")).toEqual(["a/b", "a/b c@x%y", "a/b/c", "a/bc", "a/z", "a/é", "ab", "b/2"]);
    expect(await blobs.list("a/b")).toEqual(["a/b", "a/b c@x%y", "a/b/c", "a/bc"]);
    expect(await blobs.list("a/b/")).toEqual(["a/b/c"]);
    expect(await blobs.list("a")).toEqual(["a/b", "a/b c@x%y", "a/b/c", "a/bc", "a/z", "a/é", "ab"]);
    expect(await blobs.list("c/")).toEqual([]);
    expect(await read(blobs, "a/b c@x%y")).toBe("a/b c@x%y");
    expect(await read(blobs, "a/b")).toBe("a/b");
  });

  it("refuses keys that could leave the store's directory", async () => {
    const { blobs, root } = setup();
    const bad = ["", "../escape", "a/../../escape", "/etc/passwd", "a//b", "a/", "./a", "a\\..\\b", "a\u0000b", "x".repeat(1025)];
    for (const key of bad) {
      await expect(blobs.put(key, "x"), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
      await expect(blobs.get(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
      await expect(blobs.head(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
      await expect(blobs.delete(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
    }
    await expect(blobs.put("../escape", "x")).rejects.toMatchObject({ code: "invalid-blob-key", status: 400 });
    expect(await blobs.list("../")).toEqual([]);
    expect(await blobs.list("../../")).toEqual([]);
    expect(existsSync(join(root, "..", "escape"))).toBe(false);
  });

  it("presigns an upload URL that verifies under the secret", async () => {
    const { blobs, clock } = setup();
    const sha256 = createHash("sha256").update("data").digest("hex");
    const signed = await blobs.presignUpload({ key: "up/f.csv", contentType: "text/csv", size: 4, sha256, expiresInSeconds: 900 });
    expect(signed.method).toBe("PUT");
    expect(signed.headers).toEqual({ "content-type": "text/csv" });
    expect(signed.expiresAt).toBe(new Date(clock.now() + 900_000).toISOString());
    const url = new URL(signed.url);
    expect(url.origin + url.pathname).toBe("http://localhost:8787/local-blobs/upload");
    expect(Object.fromEntries(url.searchParams)).toMatchObject({ key: "up/f.csv", size: "4", sha256, contentType: "text/csv" });
    expect(verifyUploadQuery("s3cret", url.searchParams, clock.now())).toMatchObject({ ok: true, grant: { key: "up/f.csv" } });
    expect(verifyUploadQuery("other", url.searchParams, clock.now())).toMatchObject({ ok: false, code: "invalid-signature" });
  });

  it("refuses to presign bad input", async () => {
    const { blobs } = setup();
    const ok = { key: "k", contentType: "text/csv", size: 1, sha256: "a".repeat(64), expiresInSeconds: 60 };
    await expect(blobs.presignUpload({ ...ok, key: "../k" })).rejects.toBeInstanceOf(InvalidBlobKeyError);
    for (const bad of [
      { contentType: "not a type" },
      { contentType: "text/csv\r\nx-evil: 1" },
      { size: -1 },
      { size: 1.5 },
      { sha256: "A".repeat(64) },
      { sha256: "abc" },
      { expiresInSeconds: 0 },
      { expiresInSeconds: 8 * 24 * 3600 },
    ]) {
      await expect(blobs.presignUpload({ ...ok, ...bad }), JSON.stringify(bad)).rejects.toBeInstanceOf(ValidationError);
    }
  });
});
