import type { Readable } from "node:stream";

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
  /** A stream of the object's bytes, or undefined when there is no such object. */
  get(key: string): Promise<Readable | undefined>;
  head(key: string): Promise<BlobInfo | undefined>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
  presignUpload(input: PresignUploadInput): Promise<PresignedUpload>;
}
