import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { Hono } from "hono";
import { problemResponse } from "../../api/problem.ts";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { UPLOAD_PATH, verifyUploadQuery, type UploadGrant, type UploadSecret } from "./upload-signature.ts";

/** What the route reports once an upload is stored (shape of an S3 ObjectCreated notification's essentials). */
export interface ObjectCreated {
  bucket: "local";
  key: string;
  size: number;
  /** Lower-case hex SHA-256 of the bytes, also the response's ETag. */
  eTag: string;
}

export interface LocalUploadRoutesOptions {
  /** Where verified bodies go; its `put` must be atomic (DiskBlobStore's is). */
  blobs: BlobStore;
  /** The secret DiskBlobStore signs upload URLs with. */
  secret: UploadSecret;
  clock: Clock;
  /** Called after the object is in place, e.g. to send the S3-shaped event to the ingest queue. */
  onObjectCreated: (object: ObjectCreated) => Promise<void> | void;
}

/** The body ended at another length or hashed otherwise than signed. */
class ChecksumMismatch extends Error {}
/** The body went past the signed size. */
class TooLarge extends Error {}

/**
 * The local stand-in for S3's presigned PUT: `PUT /local-blobs/upload?...`
 * checks the URL's signature and expiry and the signed content type, then
 * streams the body into the store while counting and hashing it. A body that
 * goes past the signed size is cut off at once (413); one of another length or
 * hash is refused (400); in both cases nothing is stored.
 */
export function createLocalUploadRoutes(options: LocalUploadRoutesOptions): Hono {
  const { blobs, secret, clock, onObjectCreated } = options;
  const app = new Hono();
  // The object may be in place already; the client can safely PUT the same bytes again.
  app.onError((error) => {
    console.error("[local upload]", error);
    return problemResponse(500, "upload-failed", "The upload could not be completed; try again");
  });

  app.put(UPLOAD_PATH, async (c) => {
    const verdict = verifyUploadQuery(secret, new URL(c.req.url).searchParams, clock.now());
    if (!verdict.ok) return problemResponse(verdict.status, verdict.code, verdict.detail);
    const grant = verdict.grant;

    const contentType = c.req.header("content-type");
    if (!contentType) return problemResponse(400, "missing-content-type", `Send the signed content-type: ${grant.contentType}`);
    if (normalizeMediaType(contentType) !== normalizeMediaType(grant.contentType)) {
      return problemResponse(415, "content-type-mismatch", `This URL was signed for content-type ${grant.contentType}, not ${contentType}`);
    }
    const declared = c.req.header("content-length");
    if (declared !== undefined) {
      const length = Number(declared);
      if (length > grant.size) return tooLarge(grant);
      if (length !== grant.size) return mismatch(`Content-Length is ${declared}, the URL was signed for ${grant.size} bytes`);
    }

    const source = c.req.raw.body ? Readable.fromWeb(c.req.raw.body as NodeReadableStream<Uint8Array>) : Readable.from([]);
    const hash = createHash("sha256");
    try {
      await blobs.put(grant.key, Readable.from(verified(source, grant, hash)), { contentType: grant.contentType });
    } catch (error) {
      if (error instanceof TooLarge) return tooLarge(grant);
      if (error instanceof ChecksumMismatch) return mismatch(error.message);
      throw error;
    }
    const eTag = hash.digest("hex");
    await onObjectCreated({ bucket: "local", key: grant.key, size: grant.size, eTag });
    return c.body(null, 200, { etag: `"${eTag}"` });
  });

  return app;
}

/**
 * Passes the body through, counting and hashing it; throws as soon as it goes
 * past the signed size, and at the end when its length or hash differ.
 */
async function* verified(source: Readable, grant: UploadGrant, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  let received = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > grant.size) throw new TooLarge();
    hash.update(chunk);
    yield chunk;
  }
  if (received !== grant.size) throw new ChecksumMismatch(`Received ${received} bytes, the URL was signed for ${grant.size}`);
  const digest = hash.copy().digest("hex");
  if (digest !== grant.sha256) throw new ChecksumMismatch(`The body's SHA-256 is ${digest}, the URL was signed for ${grant.sha256}`);
}

const tooLarge = (grant: UploadGrant) =>
  problemResponse(413, "payload-too-large", `The body is larger than the ${grant.size} bytes the URL was signed for`);
const mismatch = (detail: string) => problemResponse(400, "checksum-mismatch", detail);

/** `Text/CSV ; charset=UTF-8` and `text/csv;charset=utf-8` are the same media type. */
function normalizeMediaType(value: string): string {
  return value
    .split(";")
    .map((part) => part.trim().toLowerCase())
    .filter((part) => part !== "")
    .join(";");
}
