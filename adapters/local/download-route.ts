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
 * object with the signed Content-Disposition. 403 for a bad or expired URL,
 * 404 when the object is gone.
 */
export function createLocalDownloadRoutes(options: LocalDownloadRoutesOptions): Hono {
  const { blobs, secret, clock } = options;
  const app = new Hono();
  app.get(DOWNLOAD_PATH, async (c) => {
    const verdict = verifyDownloadQuery(secret, new URL(c.req.url).searchParams, clock.now());
    if (!verdict.ok) return problemResponse(403, verdict.code, verdict.detail);
    const { key, filename } = verdict.grant;
    // No content-length: an overwrite between head and get would make it lie; the body goes chunked.
    const info = await blobs.head(key);
    const stream = info && (await blobs.get(key));
    if (!info || !stream) return problemResponse(404, "not-found", "No such object");
    const headers: Record<string, string> = {
      "content-type": info.contentType ?? "application/octet-stream",
      "cache-control": "private, no-store",
      "x-content-type-options": "nosniff",
    };
    if (filename) headers["content-disposition"] = attachmentDisposition(filename);
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status: 200, headers });
  });
  return app;
}
