import { createHmac, timingSafeEqual } from "node:crypto";
import { InvalidBlobKeyError, assertValidKey } from "./blob-key.ts";

/** Path of the local upload endpoint, relative to the API origin. */
export const UPLOAD_PATH = "/local-blobs/upload";

/** What a signed upload URL allows: one PUT of exactly these bytes to this key until `expires`. */
export interface UploadGrant {
  key: string;
  size: number;
  /** Lower-case hex SHA-256 of the body. */
  sha256: string;
  contentType: string;
  /** Epoch seconds after which the URL is refused. */
  expires: number;
}

export type UploadSecret = string | Uint8Array;

/** HMAC-SHA256 (base64url) over the grant's fields, in a form no field value can forge. */
export function signUploadGrant(secret: UploadSecret, grant: UploadGrant): string {
  const canonical = JSON.stringify(["PUT", UPLOAD_PATH, grant.key, grant.size, grant.sha256, grant.contentType, grant.expires]);
  return createHmac("sha256", secret).update(canonical).digest("base64url");
}

/** The signed upload URL for a grant, under the API origin. */
export function uploadUrl(apiOrigin: string, secret: UploadSecret, grant: UploadGrant): string {
  const query = new URLSearchParams({
    key: grant.key,
    size: String(grant.size),
    sha256: grant.sha256,
    contentType: grant.contentType,
    expires: String(grant.expires),
    sig: signUploadGrant(secret, grant),
  });
  return `${apiOrigin.replace(/\/+$/, "")}${UPLOAD_PATH}?${query}`;
}

/** Why a signed URL is refused, with the HTTP status the routes answer. */
export type RefusedUrl =
  | { ok: false; status: 403; code: "invalid-signature" | "url-expired"; detail: string }
  | { ok: false; status: 400; code: "invalid-blob-key"; detail: string };

export type UploadUrlVerdict = { ok: true; grant: UploadGrant } | RefusedUrl;

/**
 * Checks a signed URL's query: the signature first (in constant time), then
 * the expiry against `nowMs`, then the key. Any missing or altered parameter
 * fails the signature.
 */
export function verifyUploadQuery(secret: UploadSecret, query: URLSearchParams, nowMs: number): UploadUrlVerdict {
  const invalid = { ok: false, status: 403, code: "invalid-signature", detail: "The upload URL's signature does not match its parameters" } as const;
  const [key, size, sha256, contentType, expires, sig] = ["key", "size", "sha256", "contentType", "expires", "sig"].map((p) =>
    query.get(p),
  );
  if (!key || !size || !sha256 || !contentType || !expires || !sig) return invalid;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !/^[1-9][0-9]{0,15}$/.test(expires)) return invalid;
  const grant: UploadGrant = { key, size: Number(size), sha256, contentType, expires: Number(expires) };
  const expected = Buffer.from(signUploadGrant(secret, grant));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid;
  if (nowMs >= grant.expires * 1000) {
    return { ok: false, status: 403, code: "url-expired", detail: `The upload URL expired at ${new Date(grant.expires * 1000).toISOString()}` };
  }
  return refusedKey(grant.key) ?? { ok: true, grant };
}

/** Path of the local download endpoint, relative to the API origin. */
export const DOWNLOAD_PATH = "/local-blobs/download";

/** What a signed download URL allows: GETs of this key, saved as `filename`, until `expires`. */
export interface DownloadGrant {
  key: string;
  /** Name for Content-Disposition; "" for none. */
  filename: string;
  /** Epoch seconds after which the URL is refused. */
  expires: number;
}

/**
 * HMAC-SHA256 (base64url) over a download grant. The canonical form starts
 * with the purpose "download" (and GET and its own path), so no upload
 * signature verifies as a download one, nor the reverse.
 */
export function signDownloadGrant(secret: UploadSecret, grant: DownloadGrant): string {
  const canonical = JSON.stringify(["download", "GET", DOWNLOAD_PATH, grant.key, grant.filename, grant.expires]);
  return createHmac("sha256", secret).update(canonical).digest("base64url");
}

/** The signed download URL for a grant, under the API origin. */
export function downloadUrl(apiOrigin: string, secret: UploadSecret, grant: DownloadGrant): string {
  const query = new URLSearchParams({ key: grant.key, expires: String(grant.expires) });
  if (grant.filename) query.set("filename", grant.filename);
  query.set("sig", signDownloadGrant(secret, grant));
  return `${apiOrigin.replace(/\/+$/, "")}${DOWNLOAD_PATH}?${query}`;
}

export type DownloadUrlVerdict = { ok: true; grant: DownloadGrant } | RefusedUrl;

/** Checks a signed download URL's query: signature in constant time, then expiry against `nowMs`. */
export function verifyDownloadQuery(secret: UploadSecret, query: URLSearchParams, nowMs: number): DownloadUrlVerdict {
  const invalid = { ok: false, status: 403, code: "invalid-signature", detail: "The download URL's signature does not match its parameters" } as const;
  const key = query.get("key");
  const expires = query.get("expires");
  const sig = query.get("sig");
  if (!key || !expires || !sig || !/^[1-9][0-9]{0,15}$/.test(expires)) return invalid;
  const grant: DownloadGrant = { key, filename: query.get("filename") ?? "", expires: Number(expires) };
  const expected = Buffer.from(signDownloadGrant(secret, grant));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid;
  if (nowMs >= grant.expires * 1000) {
    return { ok: false, status: 403, code: "url-expired", detail: `The download URL expired at ${new Date(grant.expires * 1000).toISOString()}` };
  }
  return refusedKey(grant.key) ?? { ok: true, grant };
}

/**
 * A correctly signed URL can still name a key the store refuses (the store
 * never signs one, but a leaked secret or another signer could): that is the
 * client's fault, 400, not a 500 from deep inside the store.
 */
function refusedKey(key: string): RefusedUrl | undefined {
  try {
    assertValidKey(key);
    return undefined;
  } catch (error) {
    if (error instanceof InvalidBlobKeyError) return { ok: false, status: 400, code: "invalid-blob-key", detail: error.message };
    throw error;
  }
}
