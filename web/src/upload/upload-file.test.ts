import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import type { CreateUploadInput, Upload } from "../../../core/datanets/model.ts";
import { ApiError } from "../api-error.ts";
import { contentTypeOf, uploadFile, type UploadApi, type UploadStage } from "./upload-file.ts";

const addr = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

function upload(status: Upload["status"], extra: Partial<Upload> = {}): Upload {
  return {
    uploadId: "upl_1", datanetId: "dn_1", contributor: addr, filename: "a.jsonl", contentType: "application/x-ndjson",
    size: 3, sha256: "0".repeat(64), status, accepted: 0, rejected: 0, createdAt: "2025-01-01T00:00:00Z", ...extra,
  };
}

function fakeApi(statuses: Upload[]): UploadApi & { created: CreateUploadInput[] } {
  const created: CreateUploadInput[] = [];
  return {
    created,
    createUpload: async (_id, input) => {
      created.push(input);
      return { uploadId: "upl_1", method: "PUT" as const, url: "http://x/put", headers: { "content-type": input.contentType }, expiresAt: "" };
    },
    getUpload: async () => statuses.shift() ?? upload("done"),
  };
}

describe("uploadFile", () => {
  it("hashes, requests, PUTs and polls until done, reporting each stage", async () => {
    // Prepare
    const body = '{"text":"hi"}\n';
    const file = new File([body], "a.jsonl");
    const api = fakeApi([upload("pending"), upload("processing"), upload("done", { accepted: 1, rejected: 2 })]);
    const put = vi.fn(async (_t, _b, onProgress: (f: number) => void) => onProgress(1));
    const stages: UploadStage[] = [];
    // Act
    const result = await uploadFile(api, "dn_1", file, (s) => stages.push(s), undefined, { put, sleep: async () => {} });
    // Assess
    expect(api.created).toEqual([{
      filename: "a.jsonl", contentType: "application/x-ndjson", size: body.length,
      sha256: createHash("sha256").update(body).digest("hex"),
    }]);
    expect(put).toHaveBeenCalledOnce();
    expect(put.mock.calls[0]?.[0]).toMatchObject({ url: "http://x/put", headers: { "content-type": "application/x-ndjson" } });
    expect(result).toMatchObject({ status: "done", accepted: 1, rejected: 2 });
    expect(stages.map((s) => s.phase)).toEqual(["hashing", "hashing", "requesting", "uploading", "processing", "processing", "processing", "done"]);
  });

  it("ends in a failed stage carrying the ingest error", async () => {
    const api = fakeApi([upload("failed", { error: "body did not match its sha256" })]);
    const stages: UploadStage[] = [];
    const result = await uploadFile(api, "dn_1", new File(["x"], "a.txt"), (s) => stages.push(s), undefined, { put: async () => {}, sleep: async () => {} });
    expect(result.status).toBe("failed");
    expect(stages.at(-1)).toMatchObject({ phase: "failed", error: "body did not match its sha256" });
  });

  it("reports an API refusal as a failed stage and rethrows it", async () => {
    const api: UploadApi = {
      createUpload: async () => { throw new ApiError(413, { detail: "file too large" }); },
      getUpload: async () => upload("done"),
    };
    const stages: UploadStage[] = [];
    await expect(uploadFile(api, "dn_1", new File(["x"], "a.txt"), (s) => stages.push(s), undefined, { put: async () => {}, sleep: async () => {} }))
      .rejects.toThrow("file too large");
    expect(stages.at(-1)).toEqual({ phase: "failed", error: "file too large" });
  });
});

describe("contentTypeOf", () => {
  it("keeps the browser's type and guesses from the extension otherwise", () => {
    expect(contentTypeOf({ name: "x.csv", type: "text/plain" })).toBe("text/plain");
    expect(contentTypeOf({ name: "x.JSONL", type: "" })).toBe("application/x-ndjson");
    expect(contentTypeOf({ name: "x.csv", type: "" })).toBe("text/csv");
    expect(contentTypeOf({ name: "x", type: "" })).toBe("application/octet-stream");
  });
});
