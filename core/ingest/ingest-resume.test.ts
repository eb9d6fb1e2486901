import { describe, expect, it } from "vitest";
import { acceptedBlobKey, acceptedPartKey, ingestCheckpointKey } from "../datanets/keys.ts";
import type { Contribution } from "../datanets/model.ts";
import { getUpload } from "../datanets/uploads.ts";
import { alice, bob, eventsIn, newDatanet, putUpload, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { allContributions, mixedFile } from "../../test/fakes/ingest-fixtures.ts";
import { memoryDeps, type TestDeps } from "../../test/fakes/memory-deps.ts";
import { ingestObject } from "./ingest-object.ts";



/** Every part of an upload's accepted records, joined, with the upload id masked. */
async function acceptedText(deps: TestDeps, datanetId: string, uploadId: string): Promise<string> {
  const parts = await deps.blobs.list(acceptedBlobKey(datanetId, uploadId));
  return parts.map((k) => deps.blobs.text(k)!).join("").replaceAll(uploadId.slice(3), "U");
}

const masked = (items: Contribution[], uploadId: string) => JSON.parse(JSON.stringify(items).replaceAll(uploadId.slice(3), "U").replaceAll(uploadId, "U"));

/** Records the start offset of every blob read. */
function recordReads(deps: TestDeps): { key: string; start: number }[] {
  const reads: { key: string; start: number }[] = [];
  const get = deps.blobs.get.bind(deps.blobs);
  deps.blobs.get = (key, options) => {
    reads.push({ key, start: options?.start ?? 0 });
    return get(key, options);
  };
  return reads;
}

async function cleanRun(body: string, format?: { filename: string; contentType: string }) {
  const clean = memoryDeps({}, { chunkSize: 4096 });
  const datanet = await newDatanet(clean, alice);
  const run = await uploadAndIngest(clean, bob, datanet.id, body, format?.filename, format?.contentType);
  return { clean, datanet, run, contributions: masked(await allContributions(clean, datanet.id), run.uploadId), accepted: await acceptedText(clean, datanet.id, run.uploadId) };
}

describe("ingest resumes from checkpoints (a Lambda's time limit, a crash)", () => {
  it("pauses before its deadline, and the next run resumes with a range read: same records as one clean run", async () => {
    // Prepare
    const body = mixedFile(5000);
    const reference = await cleanRun(body);
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const upload = await putUpload(deps, bob, datanet.id, body);
    const reads = recordReads(deps);
    // Act: a deadline already inside the pause margin stops the run after its first batch.
    const first = await ingestObject(deps, { key: upload.key, size: upload.size, deadline: deps.clock.now() + 1000 });
    const checkpoint = await deps.tables.contributions.get(ingestCheckpointKey(datanet.id, upload.uploadId));
    const second = await ingestObject(deps, { key: upload.key, size: upload.size });
    // Assess
    expect(first).toMatchObject({ status: "paused" });
    expect(first.accepted + first.rejected).toBe(2000);
    expect(checkpoint).toMatchObject({ part: 1, line: 2001, leaseUntil: 0 });
    expect(checkpoint!.offset as number).toBeGreaterThan(0);
    expect(checkpoint!.hashOffset as number).toBeLessThanOrEqual(checkpoint!.offset as number);
    expect(reads.map((r) => r.start)).toEqual([0, checkpoint!.hashOffset]);
    expect(second).toEqual({ status: "done", accepted: reference.run.accepted, rejected: reference.run.rejected });
    expect(await deps.blobs.list(acceptedBlobKey(datanet.id, upload.uploadId))).toEqual([
      acceptedPartKey(datanet.id, upload.uploadId, 0),
      acceptedPartKey(datanet.id, upload.uploadId, 1),
    ]);
    expect(await acceptedText(deps, datanet.id, upload.uploadId)).toBe(reference.accepted);
    expect(masked(await allContributions(deps, datanet.id), upload.uploadId)).toEqual(reference.contributions);
    expect(eventsIn(deps.db).filter((e) => e.type === "upload.completed")).toHaveLength(1);
    expect(await deps.tables.contributions.get(ingestCheckpointKey(datanet.id, upload.uploadId))).toBeUndefined();
  });

  it("after a crash between checkpoints, the retry resumes from the last one, not from byte 0", async () => {
    const body = mixedFile(5000);
    const reference = await cleanRun(body);
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const upload = await putUpload(deps, bob, datanet.id, body);
    const reads = recordReads(deps);
    // A checkpoint after every batch, and the connection drops at 70 % (in the third batch).
    deps.blobs.failNextGet(upload.key, { afterBytes: Math.floor(upload.size * 0.7) });
    await expect(ingestObject(deps, { key: upload.key, size: upload.size, checkpointEveryMs: 0 })).rejects.toThrow(/connection reset/);
    const checkpoint = await deps.tables.contributions.get(ingestCheckpointKey(datanet.id, upload.uploadId));
    expect(checkpoint).toMatchObject({ part: 1, line: 2001, leaseUntil: 0 });
    const retry = await ingestObject(deps, { key: upload.key, size: upload.size, checkpointEveryMs: 0 });
    expect(reads.map((r) => r.start)).toEqual([0, checkpoint!.hashOffset]);
    expect(checkpoint!.hashOffset as number).toBeGreaterThan(upload.size / 4);
    expect(retry).toEqual({ status: "done", accepted: reference.run.accepted, rejected: reference.run.rejected });
    expect(await acceptedText(deps, datanet.id, upload.uploadId)).toBe(reference.accepted);
    expect(masked(await allContributions(deps, datanet.id), upload.uploadId)).toEqual(reference.contributions);
  });

  it("carries the SHA-256 state across the pause: bytes changed after the checkpoint fail the upload and leave nothing", async () => {
    const body = mixedFile(5000);
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const upload = await putUpload(deps, bob, datanet.id, body);
    await ingestObject(deps, { key: upload.key, size: upload.size, deadline: deps.clock.now() + 1000 });
    // Same size, one byte different, past the checkpoint.
    const tampered = Buffer.from(body);
    tampered[tampered.length - 3] = "X".charCodeAt(0);
    await deps.blobs.put(upload.key, tampered);
    expect(await ingestObject(deps, { key: upload.key, size: upload.size })).toMatchObject({ status: "failed" });
    expect((await getUpload(deps, bob, datanet.id, upload.uploadId)).error).toMatch(/sha256/);
    expect(await allContributions(deps, datanet.id)).toEqual([]);
    expect(await deps.blobs.list(acceptedBlobKey(datanet.id, upload.uploadId))).toEqual([]);
  });

  it("resumes a CSV upload after its header, with the header's columns", async () => {
    const rows = Array.from({ length: 4500 }, (_, i) => `"row ${i}, with a comma"`);
    const body = ["text", ...rows].join("\n") + "\n";
    const csv = { filename: "data.csv", contentType: "text/csv" };
    const reference = await cleanRun(body, csv);
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const upload = await putUpload(deps, bob, datanet.id, body, csv.filename, csv.contentType);
    expect(await ingestObject(deps, { key: upload.key, size: upload.size, deadline: deps.clock.now() + 1000 })).toMatchObject({ status: "paused" });
    expect(await ingestObject(deps, { key: upload.key, size: upload.size })).toEqual({ status: "done", accepted: 4500, rejected: 0 });
    expect(reference.run.accepted).toBe(4500);
    expect(await acceptedText(deps, datanet.id, upload.uploadId)).toBe(reference.accepted);
  });
});
