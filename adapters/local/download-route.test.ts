import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { PROBLEM_BASE } from "../../api/problem.ts";
import { DiskBlobStore } from "./disk-blob-store.ts";
import { createLocalDownloadRoutes } from "./download-route.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";
import { downloadUrl, DOWNLOAD_PATH, signUploadGrant, UPLOAD_PATH } from "./upload-signature.ts";

const SECRET = "test-secret";
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const root = mkdtempSync(join(tmpdir(), "mf-download-"));
  dirs.push(root);
  const clock = new FakeClock();
  const blobs = new DiskBlobStore({ root, apiOrigin: "http://localhost:8787", secret: SECRET, clock });
  const app = createLocalDownloadRoutes({ blobs, secret: SECRET, clock });
  return { clock, blobs, app };
}

describe("local download route", () => {
  it("streams the object with its type and the signed Content-Disposition", async () => {
    const { blobs, app } = setup();
    await blobs.put("jobs/j/output/metrics.json", '{"loss":1}', { contentType: "application/json" });
    const { url } = await blobs.presignDownload("jobs/j/output/metrics.json", { expiresInSeconds: 60, filename: "metrics.json" });
    const response = await app.request(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="metrics.json"');
    expect(await response.text()).toBe('{"loss":1}');
  });

  it("refuses the URL once it has expired", async () => {
    const { clock, blobs, app } = setup();
    await blobs.put("k", "x");
    const { url, expiresAt } = await blobs.presignDownload("k", { expiresInSeconds: 60 });
    clock.advance(59_000);
    expect((await app.request(url)).status).toBe(200);
    clock.set(Date.parse(expiresAt));
    const response = await app.request(url);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}url-expired`);
  });

  it("refuses a changed filename, a missing signature and an upload signature", async () => {
    const { blobs, app } = setup();
    await blobs.put("k", "x");
    const { url } = await blobs.presignDownload("k", { expiresInSeconds: 60, filename: "a.json" });
    const renamed = new URL(url);
    renamed.searchParams.set("filename", "b.json");
    expect((await app.request(renamed.toString())).status).toBe(403);
    const unsigned = new URL(url);
    unsigned.searchParams.delete("sig");
    expect((await app.request(unsigned.toString())).status).toBe(403);
    // An upload URL's signature over the same key and expiry does not open a download.
    const expires = Math.floor(Date.UTC(2025, 0, 1) / 1000) + 60;
    const uploadSig = signUploadGrant(SECRET, { key: "k", size: 1, sha256: "0".repeat(64), contentType: "text/plain", expires });
    const query = new URLSearchParams({ key: "k", expires: String(expires), sig: uploadSig });
    const response = await app.request(`http://localhost:8787${DOWNLOAD_PATH}?${query}`);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}invalid-signature`);
    expect(DOWNLOAD_PATH).not.toBe(UPLOAD_PATH);
  });

  it("answers a HEAD with the headers and leaves no file open", async () => {
    // Prepare: note every stream the store hands out.
    const { blobs, app } = setup();
    await blobs.put("k", '{"loss":1}', { contentType: "application/json" });
    const opened: Readable[] = [];
    const get = blobs.get.bind(blobs);
    blobs.get = async (key) => {
      const stream = await get(key);
      if (stream) opened.push(stream);
      return stream;
    };
    const { url } = await blobs.presignDownload("k", { expiresInSeconds: 60, filename: "metrics.json" });
    // Act
    const response = await app.request(url, { method: "HEAD" });
    // Assess: the GET's headers, no body, and any file handle opened is closed again.
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="metrics.json"');
    expect(await response.text()).toBe("");
    expect(opened.every((s) => s.destroyed)).toBe(true);
  });

  it("answers 400 invalid-blob-key for a correctly signed URL to a key the store refuses", async () => {
    const { app } = setup();
    const expires = Math.floor(Date.UTC(2025, 0, 1) / 1000) + 60;
    const response = await app.request(downloadUrl("http://localhost:8787", SECRET, { key: "../outside", filename: "", expires }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}invalid-blob-key`);
  });

  it("answers 404 for a signed URL to an object that is gone", async () => {
    const { blobs, app } = setup();
    await blobs.put("k", "x");
    const { url } = await blobs.presignDownload("k", { expiresInSeconds: 60 });
    await blobs.delete("k");
    expect((await app.request(url)).status).toBe(404);
  });
});
