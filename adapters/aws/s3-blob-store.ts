import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
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

export interface S3BlobStoreOptions {
  /** Keys per ListObjectsV2 page (S3's maximum, 1000, by default). */
  listPageSize?: number;
  /** Part size for multipart uploads of streams and large bodies (S3's minimum is 5 MiB). */
  partSizeBytes?: number;
}

/** A week: the longest a SigV4 presigned URL may live. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
/** Largest single PUT S3 accepts. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;

/** BlobStore on one S3 bucket. */
export class S3BlobStore implements BlobStore {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #listPageSize: number;
  readonly #partSize: number;

  constructor(s3: S3Client, bucket: string, options: S3BlobStoreOptions = {}) {
    this.#s3 = s3;
    this.#bucket = bucket;
    this.#listPageSize = options.listPageSize ?? 1000;
    this.#partSize = options.partSizeBytes ?? 8 * 1024 ** 2;
  }

  async put(key: string, body: Uint8Array | string | Readable, options: { contentType?: string } = {}): Promise<void> {
    checkKey(key);
    const contentType = options.contentType ? { ContentType: options.contentType } : {};
    if (!(body instanceof Readable) && byteLength(body) <= this.#partSize) {
      await this.#s3.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: body, ...contentType }));
      return;
    }
    // Streams of unknown length and large bodies go up in parts, a few at a time.
    const upload = new Upload({
      client: this.#s3,
      params: { Bucket: this.#bucket, Key: key, Body: body, ...contentType },
      partSize: this.#partSize,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async get(key: string, options: { start?: number } = {}): Promise<Readable | undefined> {
    checkKey(key);
    try {
      // A range GET resumes a long read (ingest after a checkpoint) without re-reading the start.
      const range = options.start ? { Range: `bytes=${options.start}-` } : {};
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, ...range }));
      return out.Body as Readable;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    checkKey(key);
    try {
      const out = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, ...(out.ContentType ? { contentType: out.ContentType } : {}) };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const pages = paginateListObjectsV2(
      { client: this.#s3, pageSize: this.#listPageSize },
      { Bucket: this.#bucket, Prefix: prefix },
    );
    for await (const page of pages) {
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    }
    return keys;
  }

  /**
   * A presigned PUT whose signature covers content type, content length and
   * `x-amz-checksum-sha256`, so S3 refuses a body of another type, size or hash.
   */
  async presignUpload(input: PresignUploadInput): Promise<PresignedUpload> {
    checkKey(input.key);
    if (!Number.isSafeInteger(input.size) || input.size < 0 || input.size > MAX_PUT_BYTES) {
      throw new ValidationError(`size must be a whole number of bytes up to ${MAX_PUT_BYTES}`);
    }
    if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw new ValidationError("sha256 must be 64 lower-case hex digits");
    if (!input.contentType || /[\r\n]/.test(input.contentType)) throw new ValidationError("contentType is required");
    const ttl = input.expiresInSeconds;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_PRESIGN_SECONDS) {
      throw new ValidationError(`expiresInSeconds must be between 1 and ${MAX_PRESIGN_SECONDS}`);
    }
    const checksum = Buffer.from(input.sha256, "hex").toString("base64");
    const signedAt = new Date();
    const command = new PutObjectCommand({
      Bucket: this.#bucket,
      Key: input.key,
      ContentType: input.contentType,
      ContentLength: input.size,
      ChecksumSHA256: checksum,
    });
    const url = await getSignedUrl(this.#s3, command, {
      expiresIn: ttl,
      signingDate: signedAt,
      // The presigner leaves content-type unsigned by default; sign it and the length.
      signableHeaders: new Set(["content-type", "content-length"]),
      // Kept as a header (not hoisted into the query) so the client must send it and S3 checks the body against it.
      unhoistableHeaders: new Set(["x-amz-checksum-sha256"]),
    });
    return {
      method: "PUT",
      url,
      headers: {
        "content-type": input.contentType,
        // Browsers set this themselves from the body; it is signed, so it must match.
        "content-length": String(input.size),
        "x-amz-checksum-sha256": checksum,
      },
      expiresAt: new Date(signedAt.getTime() + ttl * 1000).toISOString(),
    };
  }

  /** A presigned GET; with a filename, S3 answers with `Content-Disposition: attachment` (the response override is signed). */
  async presignDownload(key: string, options: PresignDownloadOptions): Promise<PresignedDownload> {
    checkKey(key);
    const ttl = options.expiresInSeconds;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_PRESIGN_SECONDS) {
      throw new ValidationError(`expiresInSeconds must be between 1 and ${MAX_PRESIGN_SECONDS}`);
    }
    const disposition = options.filename !== undefined ? { ResponseContentDisposition: attachmentDisposition(options.filename) } : {};
    const signedAt = new Date();
    const command = new GetObjectCommand({ Bucket: this.#bucket, Key: key, ...disposition });
    const url = await getSignedUrl(this.#s3, command, { expiresIn: ttl, signingDate: signedAt });
    return { url, expiresAt: new Date(signedAt.getTime() + ttl * 1000).toISOString() };
  }
}

function checkKey(key: string): void {
  if (!key || key.startsWith("/") || key.length > 1024) throw new ValidationError(`Invalid blob key: ${JSON.stringify(key)}`);
}

const byteLength = (body: Uint8Array | string) => (typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);

function isMissing(error: unknown): boolean {
  // Not a bare 404: NoSuchBucket is a misconfiguration, not a missing object.
  const name = (error as { name?: string } | undefined)?.name;
  return name === "NoSuchKey" || name === "NotFound";
}
