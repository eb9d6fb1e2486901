import { DomainError } from "../../core/errors.ts";

/** S3's longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** Longest key segment once encoded as a file name (file systems allow 255 bytes). */
const MAX_SEGMENT_BYTES = 200;

/** A blob key that is not a plain relative `/`-separated path. */
export class InvalidBlobKeyError extends DomainError {
  constructor(key: string, reason: string) {
    super("invalid-blob-key", 400, `Invalid blob key ${JSON.stringify(key)}: ${reason}`);
  }
}

/**
 * Throws InvalidBlobKeyError unless `key` is a relative path of non-empty
 * segments with no `.`/`..`, backslash or control character, so that it can
 * never name a file outside the store's directory.
 */
export function assertValidKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) throw new InvalidBlobKeyError(String(key), "must be a non-empty string");
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new InvalidBlobKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  if (key.startsWith("/")) throw new InvalidBlobKeyError(key, "absolute paths are not allowed");
  if (key.includes("\\")) throw new InvalidBlobKeyError(key, "backslashes are not allowed");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new InvalidBlobKeyError(key, "control characters are not allowed");
  if (!key.isWellFormed()) throw new InvalidBlobKeyError(key, "not well-formed Unicode");
  for (const segment of key.split("/")) {
    if (segment === "") throw new InvalidBlobKeyError(key, "empty path segments (`//` or a trailing `/`) are not allowed");
    if (segment === "." || segment === "..") throw new InvalidBlobKeyError(key, "`.` and `..` segments are not allowed");
    if (Buffer.byteLength(encodeSegment(segment)) > MAX_SEGMENT_BYTES) {
      throw new InvalidBlobKeyError(key, `a path segment is longer than ${MAX_SEGMENT_BYTES} bytes once encoded`);
    }
  }
}

/**
 * A key segment as a file or directory name: percent-encoded, so that `@`
 * never appears in it and can mark the store's own files.
 */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment);
}

/** Inverse of encodeSegment. */
export function decodeSegment(name: string): string {
  return decodeURIComponent(name);
}
