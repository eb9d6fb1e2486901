import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ValidationError } from "../../core/errors.ts";
import {
  attachmentDisposition,
  type BlobInfo,
  type BlobStore,
  type PresignDownloadOptions,
  type PresignedDownload,
  type PresignedUpload,
  type PresignUploadInput,
} from "../../core/ports/blob-store.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { systemClock } from "../../core/ports/clock.ts";
import { assertValidKey, decodeSegment, encodeSegment } from "./blob-key.ts";
import { downloadUrl, uploadUrl, type UploadSecret } from "./upload-signature.ts";

export interface DiskBlobStoreOptions {
  /** Directory that holds the objects (created when missing). */
  root: string;
  /** Origin the signed upload URLs point at, e.g. `http://localhost:8787`. */
  apiOrigin: string;
  /** HMAC key of the signed upload URLs (the runtime keeps it in `$DATA_DIR/secret`). */
  secret: UploadSecret;
  clock?: Clock;
}

/** S3's longest presigned URL lifetime (7 days). */
const MAX_EXPIRES_SECONDS = 7 * 24 * 3600;
const DATA_SUFFIX = "@blob";
const META_SUFFIX = "@meta.json";
const CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[^"\\\u0000-\u001f]*"|[A-Za-z0-9!#$&^_.+-]+))*$/;

interface Meta {
  contentType?: string;
}

/**
 * BlobStore on a directory. Layout under `root`:
 *   objects/<seg>/<seg>/<name>@blob       the bytes of key `seg/seg/name`
 *   objects/<seg>/<seg>/<name>@meta.json  its content type
 *   tmp/                                  writes in progress
 * Segments are percent-encoded, so `@` only ever marks the store's own files
 * and both `a/b` and `a/b/c` can exist, as on S3. A write lands in `tmp/`
 * first and is renamed into place: readers see the old object or the new
 * one, never part of one.
 */
export class DiskBlobStore implements BlobStore {
  readonly #objects: string;
  readonly #tmp: string;
  readonly #apiOrigin: string;
  readonly #secret: UploadSecret;
  readonly #clock: Clock;

  constructor(options: DiskBlobStoreOptions) {
    this.#objects = join(options.root, "objects");
    this.#tmp = join(options.root, "tmp");
    this.#apiOrigin = options.apiOrigin;
    this.#secret = options.secret;
    this.#clock = options.clock ?? systemClock;
  }

  async put(key: string, body: Uint8Array | string | Readable, options: { contentType?: string } = {}): Promise<void> {
    const paths = this.#paths(key);
    if (options.contentType !== undefined) checkContentType(options.contentType);
    const tmp = await this.#tempFile();
    try {
      // flush: fsync before close, so a rename never publishes bytes still in the page cache only.
      if (body instanceof Readable) await pipeline(body, createWriteStream(tmp, { flags: "wx", flush: true }));
      else await writeFile(tmp, body, { flag: "wx", flush: true });
      await this.#publish(tmp, paths, { ...(options.contentType ? { contentType: options.contentType } : {}) });
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async get(key: string, options: { start?: number } = {}): Promise<Readable | undefined> {
    const { data } = this.#paths(key);
    // Open first: a missing object answers undefined, and a delete after this still reads the old bytes.
    const handle = await open(data, "r").catch(ifMissing(undefined));
    return handle?.createReadStream(options.start ? { start: options.start } : {});
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const { data, meta } = this.#paths(key);
    const info = await stat(data).catch(ifMissing(undefined));
    if (!info) return undefined;
    const m = await readMeta(meta);
    return { key, size: info.size, ...(m.contentType ? { contentType: m.contentType } : {}) };
  }

  async delete(key: string): Promise<void> {
    const { data, meta } = this.#paths(key);
    await rm(data, { force: true });
    await rm(meta, { force: true });
    await this.#removeEmptyDirs(dirname(data));
  }

  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== "string") throw new ValidationError("A list prefix must be a string");
    // Walk only the directory the prefix's complete segments name; the rest filters by string.
    const segments = prefix.split("/");
    segments.pop();
    if (segments.some((s) => s === "" || s === "." || s === "..")) return [];
    const base = segments.join("/");
    const start = join(this.#objects, ...segments.map(encodeSegment));
    const keys: string[] = [];
    await this.#walk(start, base, keys);
    return keys
      .filter((k) => k.startsWith(prefix))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))); // S3 orders by UTF-8 bytes
  }

  async presignUpload(input: PresignUploadInput): Promise<PresignedUpload> {
    assertValidKey(input.key);
    checkContentType(input.contentType);
    if (!Number.isSafeInteger(input.size) || input.size < 0) throw new ValidationError("size must be a non-negative integer");
    if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw new ValidationError("sha256 must be 64 lower-case hex digits");
    const ttl = input.expiresInSeconds;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_EXPIRES_SECONDS) {
      throw new ValidationError(`expiresInSeconds must be an integer from 1 to ${MAX_EXPIRES_SECONDS}`);
    }
    const expires = Math.floor(this.#clock.now() / 1000) + ttl;
    const grant = { key: input.key, size: input.size, sha256: input.sha256, contentType: input.contentType, expires };
    return {
      method: "PUT",
      url: uploadUrl(this.#apiOrigin, this.#secret, grant),
      headers: { "content-type": input.contentType },
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  }

  /** A URL to the local download route (createLocalDownloadRoutes), HMAC-signed over key, filename and expiry. */
  async presignDownload(key: string, options: PresignDownloadOptions): Promise<PresignedDownload> {
    assertValidKey(key);
    if (options.filename !== undefined) attachmentDisposition(options.filename);
    const ttl = options.expiresInSeconds;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_EXPIRES_SECONDS) {
      throw new ValidationError(`expiresInSeconds must be an integer from 1 to ${MAX_EXPIRES_SECONDS}`);
    }
    const expires = Math.floor(this.#clock.now() / 1000) + ttl;
    const url = downloadUrl(this.#apiOrigin, this.#secret, { key, filename: options.filename ?? "", expires });
    return { url, expiresAt: new Date(expires * 1000).toISOString() };
  }

  /**
   * Removes temp files older than `maxAgeMs`: writes a crash interrupted.
   * Call at start-up; returns how many went.
   */
  async cleanTemp(maxAgeMs = 3600_000): Promise<number> {
    const names = await readdir(this.#tmp).catch(ifMissing([] as string[]));
    let removed = 0;
    for (const name of names) {
      const path = join(this.#tmp, name);
      const info = await stat(path).catch(ifMissing(undefined));
      // mtimeMs has a fraction of a millisecond that can put a file just written "in the future".
      if (info && Date.now() - Math.floor(info.mtimeMs) >= maxAgeMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  #paths(key: string): { data: string; meta: string } {
    assertValidKey(key);
    const segments = key.split("/").map(encodeSegment);
    const name = segments.pop()!;
    const dir = join(this.#objects, ...segments);
    return { data: join(dir, name + DATA_SUFFIX), meta: join(dir, name + META_SUFFIX) };
  }

  async #tempFile(): Promise<string> {
    await mkdir(this.#tmp, { recursive: true });
    return join(this.#tmp, randomUUID());
  }

  /** Moves a finished temp file into place, metadata first. */
  async #publish(tmp: string, paths: { data: string; meta: string }, meta: Meta): Promise<void> {
    // A concurrent delete may remove the (empty) directory between mkdir and rename: try again.
    for (let attempt = 1; ; attempt++) {
      await mkdir(dirname(paths.data), { recursive: true });
      try {
        if (meta.contentType) {
          const metaTmp = await this.#tempFile();
          await writeFile(metaTmp, JSON.stringify(meta), { flag: "wx" });
          await rename(metaTmp, paths.meta);
        } else {
          await rm(paths.meta, { force: true });
        }
        await rename(tmp, paths.data);
        return;
      } catch (error) {
        if (!isMissing(error) || attempt === 3) throw error;
      }
    }
  }

  async #removeEmptyDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.#objects + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or gone): stop climbing
      }
      dir = dirname(dir);
    }
  }

  async #walk(dir: string, keyPrefix: string, out: string[]): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(ifMissing([]));
    for (const entry of entries) {
      const path = keyPrefix ? `${keyPrefix}/` : "";
      if (entry.isDirectory()) await this.#walk(join(dir, entry.name), path + decodeSegment(entry.name), out);
      else if (entry.isFile() && entry.name.endsWith(DATA_SUFFIX)) out.push(path + decodeSegment(entry.name.slice(0, -DATA_SUFFIX.length)));
    }
  }
}

/** Throws ValidationError unless `value` is a media type such as `text/csv; charset=utf-8`. */
function checkContentType(value: string): void {
  if (typeof value !== "string" || value.length > 255 || !CONTENT_TYPE.test(value)) {
    throw new ValidationError(`Invalid content type ${JSON.stringify(value)}`);
  }
}

async function readMeta(path: string): Promise<Meta> {
  const text = await readFile(path, "utf8").catch(ifMissing(undefined));
  return text ? (JSON.parse(text) as Meta) : {};
}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";

/** A catch handler that turns "no such file" into `fallback` and rethrows anything else. */
function ifMissing<T>(fallback: T): (error: unknown) => T {
  return (error) => {
    if (isMissing(error)) return fallback;
    throw error;
  };
}
