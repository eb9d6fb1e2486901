import { describe, expect, it } from "vitest";
import { alice, bob, carol, jsonl, newDatanet, putUpload, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps, type TestDeps } from "../../test/fakes/memory-deps.ts";
import { contributionFromItem } from "../datanets/items.ts";
import { getUpload } from "../datanets/uploads.ts";
import { contributionLayout } from "../datanets/contribution-layout.ts";
import { contributionId, datanetKey, uploadKey } from "../datanets/keys.ts";
import type { TableStore } from "../ports/tables.ts";
import { claimContentHashes, STALE_PROCESSING_MS } from "./claim-content-hashes.ts";
import { ingestObject } from "./ingest-object.ts";
import { markUploadDeadLettered } from "./mark-upload-dead-lettered.ts";

/** `{"text":"shared"}` first, then `n` distinct records: more than one write batch. */
const bigFile = (n: number) => jsonl({ text: "shared" }, ...Array.from({ length: n }, (_, i) => ({ text: `filler ${i}` })));

/** Starts ingesting `body` and breaks the read near its end: the upload stays `processing`, its first batch claimed. */
async function crashMidway(deps: TestDeps, datanetId: string, body: string) {
  const upload = await putUpload(deps, bob, datanetId, body);
  deps.blobs.failNextGet(upload.key, { afterBytes: Math.floor(upload.size * 0.9) });
  await expect(ingestObject(deps, { key: upload.key, size: upload.size })).rejects.toThrow(/connection reset/);
  expect((await getUpload(deps, bob, datanetId, upload.uploadId)).status).toBe("processing");
  return upload;
}

/** The Datanet's contribution layout, from its stored item. */
async function layoutOf(deps: TestDeps, datanetId: string) {
  return contributionLayout((await deps.tables.main.get(datanetKey(datanetId)))!);
}

/** Line 1 of an upload: its contribution row, read straight from the table. */
async function sharedRecordOf(deps: TestDeps, datanetId: string, uploadId: string) {
  const item = await deps.tables.contributions.get((await layoutOf(deps, datanetId)).rowKey(contributionId(uploadId, 1)));
  return contributionFromItem(item!);
}

describe("claimContentHashes", () => {
  it("lets a record take the hash of an upload that is still processing only once that processing is stale", async () => {
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const u1 = await crashMidway(deps, datanet.id, bigFile(2500));

    // U1 may still be running: its claim stands.
    const early = await uploadAndIngest(deps, carol, datanet.id, jsonl({ text: "shared" }), "early.jsonl");
    expect(early).toMatchObject({ accepted: 0, rejected: 1 });

    // A day later U1 is presumed dead: the next record with that hash takes the claim.
    deps.clock.advance(STALE_PROCESSING_MS + 1);
    const late = await uploadAndIngest(deps, carol, datanet.id, jsonl({ text: "shared" }), "late.jsonl");
    expect(late).toMatchObject({ status: "done", accepted: 1, rejected: 0 });
    expect(await sharedRecordOf(deps, datanet.id, late.uploadId)).toMatchObject({ status: "accepted", reason: null });
    expect(u1.uploadId).not.toBe(late.uploadId);
  });

  it("lets a record take the hash of an upload that failed with its claims still held", async () => {
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const u1 = await crashMidway(deps, datanet.id, bigFile(2500));
    // U1 ends failed without its claims released (a run that kept writing after it was failed).
    const item = (await deps.tables.main.get(uploadKey(datanet.id, u1.uploadId)))!;
    await deps.tables.main.put({ ...item, status: "failed", error: "gave up" });

    const u2 = await uploadAndIngest(deps, carol, datanet.id, jsonl({ text: "shared" }, { text: "filler 3" }), "again.jsonl");
    expect(u2).toMatchObject({ status: "done", accepted: 2, rejected: 0 });
  });

  it("U1 processing, U2 rejected as its duplicate, U1 dead-lettered: U1's claims are released, so the record is accepted when uploaded again", async () => {
    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const u1 = await crashMidway(deps, datanet.id, bigFile(2500));
    const u2 = await uploadAndIngest(deps, carol, datanet.id, jsonl({ text: "shared" }), "u2.jsonl");
    expect(u2).toMatchObject({ accepted: 0, rejected: 1 });
    expect((await sharedRecordOf(deps, datanet.id, u2.uploadId)).reason).toBe(`duplicate of contribution ${(await sharedRecordOf(deps, datanet.id, u1.uploadId)).id}`);

    await markUploadDeadLettered(deps, { key: u1.key, reason: "gave up" });
    const u3 = await uploadAndIngest(deps, carol, datanet.id, jsonl({ text: "shared" }), "u3.jsonl");
    expect(u3).toMatchObject({ accepted: 1, rejected: 0 });
  });

  it("never takes a claim from a finished upload", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    await uploadAndIngest(deps, bob, datanet.id, jsonl({ text: "shared" }));
    deps.clock.advance(STALE_PROCESSING_MS * 2);
    expect(await uploadAndIngest(deps, carol, datanet.id, jsonl({ text: "shared" }), "b.jsonl")).toMatchObject({ accepted: 0, rejected: 1 });
  });

  it("gives a dead upload's claim to one of two racing claimants only", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const hash = `0x${"ab".repeat(32)}`;
    // Two live uploads race for the claim of one that no longer exists.
    for (const uploadId of ["up_a", "up_b"]) {
      await deps.tables.main.put({ ...uploadKey(datanet.id, uploadId), uploadId, status: "processing", startedAt: new Date(deps.clock.now()).toISOString() });
    }
    const layout = await layoutOf(deps, datanet.id);
    await deps.tables.contributions.put({ ...layout.claimKey(hash), contentHash: hash, contributionId: "ct_dead_1", uploadId: "up_gone" });
    const [a, b] = await Promise.all([
      claimContentHashes(deps, layout, [{ contentHash: hash, contributionId: "ct_a_1", uploadId: "up_a" }]),
      claimContentHashes(deps, layout, [{ contentHash: hash, contributionId: "ct_b_1", uploadId: "up_b" }]),
    ]);
    expect(a.get(hash)).toBe(b.get(hash));
    expect(["ct_a_1", "ct_b_1"]).toContain(a.get(hash));
  });

  it("sends independent transactions concurrently, at most 8 at a time", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const inner = deps.tables.contributions;
    let inFlight = 0;
    let most = 0;
    const counting: TableStore = Object.create(inner) as TableStore;
    counting.transact = async (ops) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      try {
        return await inner.transact(ops);
      } finally {
        inFlight--;
      }
    };
    const claims = Array.from({ length: 2000 }, (_, i) => ({
      contentHash: `0x${i.toString(16).padStart(64, "0")}`,
      contributionId: `ct_x_${i}`,
      uploadId: "up_x",
    }));
    const owners = await claimContentHashes({ ...deps, tables: { ...deps.tables, contributions: counting } }, await layoutOf(deps, datanet.id), claims);
    expect(owners.size).toBe(2000);
    expect([...owners].every(([hash, owner]) => claims.find((c) => c.contentHash === hash)!.contributionId === owner)).toBe(true);
    expect(most).toBe(8);
  });
});
