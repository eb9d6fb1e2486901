import { describe, expect, it } from "vitest";
import { alice, bob, eventsIn, jsonl, newDatanet, putUpload, tableRows, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps, type TestDeps } from "../../test/fakes/memory-deps.ts";
import { getUpload } from "../datanets/uploads.ts";
import { acceptedBlobKey } from "../datanets/keys.ts";
import { ingestObject } from "./ingest-object.ts";
import { markUploadDeadLettered } from "./mark-upload-dead-lettered.ts";

const records = (n: number) => jsonl(...Array.from({ length: n }, (_, i) => ({ text: `record ${i}` })));

/** An upload whose ingest broke after its first batch: `processing`, with rows and claims written. */
async function stuckUpload(deps: TestDeps, datanetId: string) {
  const upload = await putUpload(deps, bob, datanetId, records(2500));
  deps.blobs.failNextGet(upload.key, { afterBytes: Math.floor(upload.size * 0.9) });
  await expect(ingestObject(deps, { key: upload.key, size: upload.size })).rejects.toThrow(/connection reset/);
  return upload;
}

describe("markUploadDeadLettered", () => {
  it("fails a stuck upload with the reason, removes its rows, claims and blob, and records upload.completed", async () => {
    // Prepare
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const upload = await stuckUpload(deps, datanet.id);
    expect(tableRows(deps.db, "contributions").length).toBeGreaterThan(0);
    // Act
    const result = await markUploadDeadLettered(deps, { key: upload.key, reason: "ingest gave up" });
    // Assess
    expect(result).toEqual({ status: "failed" });
    expect(await getUpload(deps, bob, datanet.id, upload.uploadId)).toMatchObject({ status: "failed", error: "ingest gave up", accepted: 0, rejected: 0 });
    expect(tableRows(deps.db, "contributions")).toEqual([]);
    expect(deps.blobs.text(acceptedBlobKey(datanet.id, upload.uploadId))).toBeUndefined();
    const events = eventsIn(deps.db).filter((e) => e.type === "upload.completed");
    expect(events.map((e) => e.data)).toEqual([
      { datanetId: datanet.id, uploadId: upload.uploadId, status: "failed", accepted: 0, rejected: 0, error: "ingest gave up" },
    ]);
    expect(events[0]!.audience).toEqual([bob.address, alice.address]);
    // A late redelivery of the ingest message leaves it failed.
    expect(await ingestObject(deps, { key: upload.key, size: upload.size })).toMatchObject({ status: "skipped" });
  });

  it("is idempotent: a second delivery changes nothing and records no second event", async () => {
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const upload = await stuckUpload(deps, datanet.id);
    await markUploadDeadLettered(deps, { key: upload.key, reason: "first" });
    const before = { main: tableRows(deps.db, "main"), contributions: tableRows(deps.db, "contributions") };
    expect(await markUploadDeadLettered(deps, { key: upload.key, reason: "second" })).toEqual({ status: "skipped" });
    expect(tableRows(deps.db, "main")).toEqual(before.main);
    expect(tableRows(deps.db, "contributions")).toEqual(before.contributions);
    expect((await getUpload(deps, bob, datanet.id, upload.uploadId)).error).toBe("first");
  });

  it("fails a pending upload too, and leaves a finished one alone", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const pending = await putUpload(deps, bob, datanet.id, records(3));
    expect(await markUploadDeadLettered(deps, { key: pending.key, reason: "gave up" })).toEqual({ status: "failed" });
    expect((await getUpload(deps, bob, datanet.id, pending.uploadId)).status).toBe("failed");

    const done = await uploadAndIngest(deps, bob, datanet.id, records(3), "done.jsonl");
    const rows = tableRows(deps.db, "contributions");
    expect(await markUploadDeadLettered(deps, { key: done.key, reason: "gave up" })).toEqual({ status: "skipped" });
    expect(await getUpload(deps, bob, datanet.id, done.uploadId)).toMatchObject({ status: "done", accepted: 3 });
    expect(tableRows(deps.db, "contributions")).toEqual(rows);
  });

  it("skips keys that name no upload", async () => {
    const deps = memoryDeps();
    expect(await markUploadDeadLettered(deps, { key: "datanets/dn_x/accepted/up_y.jsonl", reason: "x" })).toEqual({ status: "skipped" });
    expect(await markUploadDeadLettered(deps, { key: "uploads/dn_x/up_unknown", reason: "x" })).toEqual({ status: "skipped" });
  });
});
