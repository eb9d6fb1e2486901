import { Readable } from "node:stream";
import {
  attachmentDisposition,
  type BlobInfo,
  type BlobStore,
  type PresignDownloadOptions,
  type PresignedDownload,
  type PresignedUpload,
  type PresignUploadInput,
} from "../../core/ports/blob-store.ts";

interface StoredBlob {
  bytes: Buffer;
  contentType?: string;
}

/** A fault to inject into the next `get` of a key: the stream errors after `afterBytes`. */
export interface GetFault {
  afterBytes: number;
  error?: Error;
}

/**
 * BlobStore held in memory, for unit tests. `get` streams in chunks of
 * `chunkSize` bytes (small chunks exercise record splitting across chunk
 * borders); `failNextGet` makes the next read of a key break mid-way, as a
 * dropped connection would; `presignUpload` returns a fake URL and remembers
 * what it signed, and so does
 * `presignDownload`.
 */
export class MemoryBlobStore implements BlobStore {
  readonly blobs = new Map<string, StoredBlob>();
  readonly presigned: PresignUploadInput[] = [];
  /** What `presignDownload` signed, in order. */
  readonly presignedDownloads: Array<{ key: string } & PresignDownloadOptions> = [];
  readonly #faults = new Map<string, GetFault>();
  readonly #chunkSize: number;
  readonly #now: () => number;

  constructor(options: { chunkSize?: number; now?: () => number } = {}) {
    this.#chunkSize = options.chunkSize ?? 64 * 1024;
    this.#now = options.now ?? Date.now;
  }

  async put(key: string, body: Uint8Array | string | Readable, options: { contentType?: string } = {}): Promise<void> {
    let bytes: Buffer;
    if (typeof body === "string") bytes = Buffer.from(body);
    else if (body instanceof Uint8Array) bytes = Buffer.from(body);
    else {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
      bytes = Buffer.concat(chunks);
    }
    this.blobs.set(key, { bytes, ...(options.contentType ? { contentType: options.contentType } : {}) });
  }

  async get(key: string, options: { start?: number } = {}): Promise<Readable | undefined> {
    const blob = this.blobs.get(key);
    if (!blob) return undefined;
    const fault = this.#faults.get(key);
    this.#faults.delete(key);
    const chunkSize = this.#chunkSize;
    const start = options.start ?? 0;
    async function* chunks() {
      for (let at = start; at < blob!.bytes.length; at += chunkSize) {
        if (fault && at >= fault.afterBytes) throw fault.error ?? new Error("connection reset while reading blob");
        yield blob!.bytes.subarray(at, at + chunkSize);
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const blob = this.blobs.get(key);
    return blob ? { key, size: blob.bytes.length, ...(blob.contentType ? { contentType: blob.contentType } : {}) } : undefined;
  }

  async delete(key: string): Promise<void> {
    this.blobs.delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.blobs.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async presignUpload(input: PresignUploadInput): Promise<PresignedUpload> {
    this.presigned.push(input);
    const expiresAt = new Date(this.#now() + input.expiresInSeconds * 1000).toISOString();
    return {
      method: "PUT",
      url: `memory://blobs/${input.key}?expires=${encodeURIComponent(expiresAt)}&signature=fake`,
      headers: { "content-type": input.contentType, "x-amz-checksum-sha256": Buffer.from(input.sha256, "hex").toString("base64") },
      expiresAt,
    };
  }

  async presignDownload(key: string, options: PresignDownloadOptions): Promise<PresignedDownload> {
    if (options.filename !== undefined) attachmentDisposition(options.filename); // same filename rule as the real stores
    this.presignedDownloads.push({ key, ...options });
    const expiresAt = new Date(this.#now() + options.expiresInSeconds * 1000).toISOString();
    const filename = options.filename ? `&filename=${encodeURIComponent(options.filename)}` : "";
    return { url: `memory://blobs/${key}?expires=${encodeURIComponent(expiresAt)}${filename}&signature=fake`, expiresAt };
  }

  /** Breaks the next `get(key)` stream after `afterBytes` bytes (rounded to a chunk). */
  failNextGet(key: string, fault: GetFault): void {
    this.#faults.set(key, fault);
  }

  /** The blob's content as text (tests only). */
  text(key: string): string | undefined {
    return this.blobs.get(key)?.bytes.toString("utf8");
  }
}
