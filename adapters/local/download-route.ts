import { Readable } from "node:stream";
import { Hono } from "hono";
import { problemResponse } from "../../api/problem.ts";
import { attachmentDisposition, type BlobStore } from "../../core/ports/blob-store.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { DOWNLOAD_PATH, verifyDownloadQuery, type UploadSecret } from "./upload-signature.ts";

export interface LocalDownloadRoutesOptions {
  blobs: BlobStore;
  /** The secret DiskBlobStore signs URLs with. */
  secret: UploadSecret;
  clock: Clock;
}

/**
 * The local stand-in for S3's presigned GET: `GET /local-blobs/download?...`
 * checks the URL's signature (constant time) and expiry, then streams the
 * object with the signed Content-Disposition (a HEAD gets the headers only).
 * 403 for a bad or expired URL, 400 for a signed key the store refuses, 404
 * when the object is gone.
 */
export function createLocalDownloadRoutes(options: LocalDownloadRoutesOptions): Hono {
  const { blobs, secret, clock } = options;
  const app = new Hono();
  app.get(DOWNLOAD_PATH, async (c) => {
    const verdict = verifyDownloadQuery(secret, new URL(c.req.url).searchParams, clock.now());
    if (!verdict.ok) return problemResponse(verdict.status, verdict.code, verdict.detail);
    const { key, filename } = verdict.grant;
    const info = await blobs.head(key);
    if (!info) return problemResponse(404, "not-found", "No such object");
    const headers: Record<string, string> = {
      "content-type": info.contentType ?? "application/octet-stream",
      "cache-control": "private, no-store",
      "x-content-type-options": "nosniff",
    };
    if (filename) headers["content-disposition"] = attachmentDisposition(filename);
    // hono routes HEAD here and drops the body unread: opening the object would leave its file handle to the GC.
    if (c.req.method === "HEAD") return new Response(null, { status: 200, headers });
    // No content-length: an overwrite between head and get would make it lie; the body goes chunked.
    const stream = await blobs.get(key);
    if (!stream) return problemResponse(404, "not-found", "No such object");
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status: 200, headers });
  });
  return app;
}
