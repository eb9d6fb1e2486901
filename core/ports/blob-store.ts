import type { Readable } from "node:stream";
import { ValidationError } from "../errors.ts";

/** What a client needs to send the bytes of an upload straight to the store. */
export interface PresignedUpload {
  method: "PUT";
  url: string;
  /** Headers the client must send with the body, exactly as given. */
  headers: Record<string, string>;
  /** ISO-8601 instant after which the URL is refused. */
  expiresAt: string;
}

export interface PresignUploadInput {
  key: string;
  contentType: string;
  /** Exact body size in bytes; a different size is refused. */
  size: number;
  /** Lower-case hex SHA-256 of the body; a body that hashes otherwise is refused. */
  sha256: string;
  expiresInSeconds: number;
}

/** A time-limited URL that GETs one object's bytes without credentials. */
export interface PresignedDownload {
  url: string;
  /** ISO-8601 instant after which the URL is refused. */
  expiresAt: string;
}

export interface PresignDownloadOptions {
  expiresInSeconds: number;
  /** Name the browser saves the file under (`Content-Disposition: attachment`); letters, digits, `.`, `_`, `-` only. */
  filename?: string;
}

const SAFE_FILENAME = /^[A-Za-z0-9._-]{1,200}$/;

/** The `Content-Disposition` value that makes a browser save the object as `filename`; throws ValidationError for an unsafe name. */
export function attachmentDisposition(filename: string): string {
  // A conservative character set needs no quoting rules or RFC 5987 encoding, and cannot inject a header.
  if (!SAFE_FILENAME.test(filename) || /^\.+$/.test(filename)) {
    throw new ValidationError(`Invalid download filename ${JSON.stringify(filename)}: use letters, digits, ".", "_" and "-"`);
  }
  return `attachment; filename="${filename}"`;
}

export interface BlobInfo {
  key: string;
  size: number;
  contentType?: string;
}

/**
 * Object storage: a directory on disk locally, S3 on AWS. Keys are
 * `/`-separated paths without a leading slash.
 */
export interface BlobStore {
  put(key: string, body: Uint8Array | string | Readable, options?: { contentType?: string }): Promise<void>;
  /**
   * A stream of the object's bytes (from byte `start` on, when given: a resumed
   * read, an S3 range GET), or undefined when there is no such object.
   */
  get(key: string, options?: { start?: number }): Promise<Readable | undefined>;
  head(key: string): Promise<BlobInfo | undefined>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
  presignUpload(input: PresignUploadInput): Promise<PresignedUpload>;
  /**
   * A URL anyone holding it may GET the object from until it expires. Does
   * not check that the object exists: a missing one answers 404 at the URL.
   */
  presignDownload(key: string, options: PresignDownloadOptions): Promise<PresignedDownload>;
}
