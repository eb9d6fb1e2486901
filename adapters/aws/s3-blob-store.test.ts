import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startS3rver } from "../../test/conformance/emulators.ts";
import { S3BlobStore } from "./s3-blob-store.ts";

// The shared behaviour runs in test/conformance/blob-store.test.ts; these are S3 specifics.
let s3rver: Awaited<ReturnType<typeof startS3rver>>;
beforeAll(async () => {
  s3rver = await startS3rver("specifics");
});
afterAll(async () => {
  await s3rver?.stop();
});

describe("S3BlobStore", () => {
  it("uploads a stream larger than a part as a multipart upload", async () => {
    const store = new S3BlobStore(s3rver.client, "specifics", { partSizeBytes: 5 * 1024 ** 2 });
    const chunk = Buffer.alloc(1024 ** 2, 7);
    const chunks = Array.from({ length: 11 }, (_, i) => Buffer.from(chunk.map((b) => (b + i) % 256)));
    await store.put("big/stream.bin", Readable.from(chunks), { contentType: "application/octet-stream" });
    const back = await buffer((await store.get("big/stream.bin"))!);
    expect(back.length).toBe(11 * 1024 ** 2);
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(Buffer.concat(chunks)).digest("hex"));
  });

  it("follows ListObjectsV2 continuation tokens", async () => {
    // s3rver's continuation tokens use DES, which Node 24's OpenSSL 3 no longer
    // offers, so paging is checked against the SDK mock.
    const s3 = new S3Client({ region: "us-east-1" });
    const mock = mockClient(s3);
    mock
      .on(ListObjectsV2Command, { ContinuationToken: undefined })
      .resolves({ Contents: [{ Key: "pages/a" }, { Key: "pages/b" }], IsTruncated: true, NextContinuationToken: "t1" })
      .on(ListObjectsV2Command, { ContinuationToken: "t1" })
      .resolves({ Contents: [{ Key: "pages/c" }], IsTruncated: false });
    const store = new S3BlobStore(s3, "bucket", { listPageSize: 2 });
    expect(await store.list("pages/")).toEqual(["pages/a", "pages/b", "pages/c"]);
    // (The paginator reuses one input object, so only the last call's token can be read back.)
    const calls = mock.commandCalls(ListObjectsV2Command);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input).toEqual({ Bucket: "bucket", Prefix: "pages/", MaxKeys: 2, ContinuationToken: "t1" });
  });

  it("surfaces a missing bucket rather than reporting a missing object", async () => {
    const store = new S3BlobStore(s3rver.client, "no-such-bucket");
    await expect(store.get("k")).rejects.toMatchObject({ name: "NoSuchBucket" });
  });

  it("refuses keys with a leading slash", async () => {
    const store = new S3BlobStore(s3rver.client, "specifics");
    await expect(store.put("/abs", "x")).rejects.toThrow(/Invalid blob key/);
  });

  it("signs content type, length and checksum into the presigned URL, as S3 needs to refuse other bodies", async () => {
    const s3 = new S3Client({ region: "eu-west-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } });
    const store = new S3BlobStore(s3, "uploads-bucket");
    const sha = createHash("sha256").update("hello").digest("hex");
    const presigned = await store.presignUpload({ key: "uploads/d/u 1.txt", contentType: "text/plain", size: 5, sha256: sha, expiresInSeconds: 900 });
    const url = new URL(presigned.url);
    expect(url.hostname).toBe("uploads-bucket.s3.eu-west-1.amazonaws.com");
    expect(url.pathname).toBe("/uploads/d/u%201.txt");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(url.searchParams.get("X-Amz-SignedHeaders")!.split(";")).toEqual(["content-length", "content-type", "host", "x-amz-checksum-sha256"]);
    // The checksum must travel as a header, not as a query parameter the client could drop.
    expect([...url.searchParams.keys()].some((k) => k.toLowerCase().includes("checksum"))).toBe(false);
    expect(presigned.headers).toEqual({
      "content-type": "text/plain",
      "content-length": "5",
      "x-amz-checksum-sha256": Buffer.from(sha, "hex").toString("base64"),
    });
    s3.destroy();
  });

  it("signs the attachment filename into a presigned GET", async () => {
    const s3 = new S3Client({ region: "eu-west-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } });
    const store = new S3BlobStore(s3, "blobs-bucket");
    const before = Date.now();
    const presigned = await store.presignDownload("jobs/j/output/adapter/adapter_model.safetensors", { expiresInSeconds: 300, filename: "adapter_model.safetensors" });
    const url = new URL(presigned.url);
    expect(url.hostname).toBe("blobs-bucket.s3.eu-west-1.amazonaws.com");
    expect(url.pathname).toBe("/jobs/j/output/adapter/adapter_model.safetensors");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("300");
    // A query parameter of the signed URL, so changing it breaks the signature.
    expect(url.searchParams.get("response-content-disposition")).toBe('attachment; filename="adapter_model.safetensors"');
    expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(presigned.expiresAt) - before).toBeGreaterThanOrEqual(299_000);
    await expect(store.presignDownload("k", { expiresInSeconds: 8 * 24 * 3600 })).rejects.toThrow(/expiresInSeconds/);
    s3.destroy();
  });
});
