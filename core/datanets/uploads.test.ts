import { describe, expect, it } from "vitest";
import { alice, bob, carol, newDatanet } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { NotFoundError, PayloadTooLargeError, ValidationError } from "../errors.ts";
import { createUpload, getUpload } from "./uploads.ts";

const input = { filename: "data.jsonl", contentType: "application/jsonl", size: 1234, sha256: "a".repeat(64) };

describe("createUpload", () => {
  it("signs an upload to the object key with the declared size and sha256 and records it pending", async () => {
    const deps = memoryDeps({ uploadUrlTtlSeconds: 600 });
    const datanet = await newDatanet(deps, alice);
    const upload = await createUpload(deps, bob, datanet.id, input);
    expect(upload).toMatchObject({ method: "PUT", expiresAt: new Date(deps.clock.now() + 600_000).toISOString() });
    expect(upload.url).toContain(`uploads/${datanet.id}/${upload.uploadId}`);
    expect(deps.blobs.presigned).toEqual([
      { key: `uploads/${datanet.id}/${upload.uploadId}`, contentType: "application/jsonl", size: 1234, sha256: "a".repeat(64), expiresInSeconds: 600 },
    ]);
    expect(await getUpload(deps, bob, datanet.id, upload.uploadId)).toMatchObject({
      status: "pending",
      contributor: bob.address,
      accepted: 0,
      rejected: 0,
      size: 1234,
    });
  });

  it("lets only the owner contribute to a private Datanet; to others it does not exist", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice, { visibility: "private" });
    await expect(createUpload(deps, bob, datanet.id, input)).rejects.toThrow(NotFoundError);
    await expect(createUpload(deps, alice, datanet.id, input)).resolves.toMatchObject({ method: "PUT" });
  });

  it("refuses an upload over the size limit", async () => {
    const deps = memoryDeps({ maxUploadBytes: 1000 });
    const datanet = await newDatanet(deps, alice);
    await expect(createUpload(deps, bob, datanet.id, { ...input, size: 1001 })).rejects.toThrow(PayloadTooLargeError);
    expect(deps.blobs.presigned).toEqual([]);
  });

  it("refuses unsupported file types, plain text for non-text Datanets and malformed input", async () => {
    const deps = memoryDeps();
    const chat = await newDatanet(deps, alice, { schema: "chat" });
    await expect(createUpload(deps, bob, chat.id, { ...input, filename: "a.png", contentType: "image/png" })).rejects.toThrow(ValidationError);
    await expect(createUpload(deps, bob, chat.id, { ...input, filename: "a.txt", contentType: "text/plain" })).rejects.toThrow(/only fit "text"/);
    await expect(createUpload(deps, bob, chat.id, { ...input, sha256: "XYZ" })).rejects.toThrow(ValidationError);
  });
});

describe("getUpload", () => {
  it("shows an upload to its uploader and the Datanet's owner only", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const { uploadId } = await createUpload(deps, bob, datanet.id, input);
    await expect(getUpload(deps, bob, datanet.id, uploadId)).resolves.toMatchObject({ uploadId });
    await expect(getUpload(deps, alice, datanet.id, uploadId)).resolves.toMatchObject({ uploadId });
    await expect(getUpload(deps, carol, datanet.id, uploadId)).rejects.toThrow(NotFoundError);
    await expect(getUpload(deps, bob, datanet.id, "up_missing")).rejects.toThrow(NotFoundError);
  });
});
