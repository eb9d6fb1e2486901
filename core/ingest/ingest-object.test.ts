import { describe, expect, it } from "vitest";
import { acceptedBlobKey } from "../datanets/keys.ts";
import type { Contribution } from "../datanets/model.ts";
import { getUpload } from "../datanets/uploads.ts";
import { alice, bob, eventsIn, jsonl, newDatanet, putUpload, sha256Hex, tableRows, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { listContributions } from "../datanets/contributions.ts";
import { allContributions, mixedFile } from "../../test/fakes/ingest-fixtures.ts";
import { memoryDeps, type TestDeps } from "../../test/fakes/memory-deps.ts";
import { ingestObject } from "./ingest-object.ts";



describe("ingestObject", () => {
  it("records accepted and rejected records, the accepted blob, counts and one event", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice, { schema: "instruction", license: "MIT" });
    const body = jsonl(
      { instruction: "Add", input: "2 and 2", output: "4" },
      "{not json",
      { instruction: "Say hi", output: "hi", foo: "bar" },
      { instruction: "Say hi", output: "hi", license: "MIT" },
      { instruction: "Missing output" },
      { instruction: "Say hi ", output: " hi" },
    );
    const result = await uploadAndIngest(deps, bob, datanet.id, body);
    expect(result).toMatchObject({ status: "done", accepted: 2, rejected: 4 });

    const items = await allContributions(deps, datanet.id);
    expect(items.map((c) => [c.line, c.status, c.reason])).toEqual([
      [1, "accepted", null],
      [2, "rejected", expect.stringMatching(/^invalid JSON: /)],
      [3, "rejected", 'unknown field "foo"'],
      [4, "accepted", null],
      [5, "rejected", 'missing field "output"'],
      [6, "rejected", `duplicate of contribution ${items[3]!.id}`],
    ]);
    expect(items[0]).toMatchObject({ contributor: bob.address, license: "MIT", uploadId: result.uploadId, tokens: 5 });
    expect(items[0]!.contentHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(items[5]!.contentHash).toBe(items[3]!.contentHash);

    const accepted = deps.blobs.text(acceptedBlobKey(datanet.id, result.uploadId))!.trim().split("\n").map((l) => JSON.parse(l));
    expect(accepted).toEqual([
      { contributionId: items[0]!.id, contentHash: items[0]!.contentHash, record: { instruction: "Add", input: "2 and 2", output: "4" } },
      { contributionId: items[3]!.id, contentHash: items[3]!.contentHash, record: { instruction: "Say hi", output: "hi" } },
    ]);

    const upload = await getUpload(deps, bob, datanet.id, result.uploadId);
    expect(upload).toMatchObject({ status: "done", accepted: 2, rejected: 4 });
    const events = eventsIn(deps.db).filter((e) => e.type === "upload.completed");
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual({ datanetId: datanet.id, uploadId: result.uploadId, status: "done", accepted: 2, rejected: 4 });
    expect(events[0]!.audience).toEqual([bob.address, alice.address]);
  });

  it("dedupes across uploads by content hash", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const first = await uploadAndIngest(deps, alice, datanet.id, jsonl({ text: "one" }, { text: "two" }));
    const second = await uploadAndIngest(deps, bob, datanet.id, jsonl({ text: "two " }, { text: "three" }), "more.jsonl");
    expect(first).toMatchObject({ accepted: 2, rejected: 0 });
    expect(second).toMatchObject({ accepted: 1, rejected: 1 });
    const items = await allContributions(deps, datanet.id);
    const two = items.find((c) => c.uploadId === first.uploadId && c.line === 2)!;
    expect(items.find((c) => c.uploadId === second.uploadId && c.line === 1)).toMatchObject({
      status: "rejected",
      reason: `duplicate of contribution ${two.id}`,
      contributor: bob.address,
    });
  });

  it("ingests CSV into an instruction Datanet and plain text into a text Datanet", async () => {
    const deps = memoryDeps();
    const instructions = await newDatanet(deps, alice, { schema: "instruction" });
    const csv = 'instruction,input,output\n"Translate","Hallo","Hello"\nSum,,4\nbad,"row\n';
    expect(await uploadAndIngest(deps, alice, instructions.id, csv, "set.csv", "text/csv")).toMatchObject({ accepted: 2, rejected: 1 });
    const texts = await newDatanet(deps, alice);
    expect(await uploadAndIngest(deps, alice, texts.id, "first\n\nsecond\n", "notes.txt", "text/plain")).toMatchObject({ accepted: 2, rejected: 0 });
  });

  it("keeps every valid CSV row after a row with a stray quote", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice, { license: "MIT" });
    const csv = ["text,license", '"oops,MIT', ...Array.from({ length: 3000 }, (_, i) => `row ${i},MIT`)].join("\n") + "\n";
    const result = await uploadAndIngest(deps, bob, datanet.id, csv, "rows.csv", "text/csv");
    expect(result).toMatchObject({ status: "done", accepted: 3000, rejected: 1 });
    const rejected = (await listContributions(deps, alice, datanet.id, { status: "rejected" })).items;
    expect(rejected.map((c) => [c.line, c.reason])).toEqual([[2, "invalid CSV: quote not closed"]]);
  });

  it("does nothing when the same message is delivered again", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const first = await uploadAndIngest(deps, bob, datanet.id, mixedFile(50));
    const before = { main: tableRows(deps.db, "main"), contributions: tableRows(deps.db, "contributions"), events: eventsIn(deps.db) };

    const again = await ingestObject(deps, { key: first.key, size: first.size });
    expect(again).toEqual({ status: "skipped", accepted: first.accepted, rejected: first.rejected });
    expect(tableRows(deps.db, "main")).toEqual(before.main);
    expect(tableRows(deps.db, "contributions")).toEqual(before.contributions);
    expect(eventsIn(deps.db)).toEqual(before.events);
    expect(before.events.filter((e) => e.type === "upload.completed")).toHaveLength(1);
  });

  it("ends in the same state after a crash mid-way and a retry as after a clean run", async () => {
    const body = mixedFile(5000); // three batches, duplicates across them
    const clean = memoryDeps({}, { chunkSize: 4096 });
    const cleanDatanet = await newDatanet(clean, alice);
    const cleanRun = await uploadAndIngest(clean, bob, cleanDatanet.id, body);

    const deps = memoryDeps({}, { chunkSize: 4096 });
    const datanet = await newDatanet(deps, alice);
    const upload = await putUpload(deps, bob, datanet.id, body);
    deps.blobs.failNextGet(upload.key, { afterBytes: Math.floor(upload.size * 0.7) });
    await expect(ingestObject(deps, { key: upload.key, size: upload.size })).rejects.toThrow(/connection reset/);
    expect((await getUpload(deps, bob, datanet.id, upload.uploadId)).status).toBe("processing");
    expect((await allContributions(deps, datanet.id)).length).toBeGreaterThan(0);

    const retry = await ingestObject(deps, { key: upload.key, size: upload.size });
    expect(retry).toEqual({ status: "done", accepted: cleanRun.accepted, rejected: cleanRun.rejected });

    // Ids embed the upload id: compare with it masked out.
    const masked = (items: Contribution[], uploadId: string) =>
      JSON.parse(JSON.stringify(items).replaceAll(uploadId.slice(3), "U").replaceAll(uploadId, "U"));
    expect(masked(await allContributions(deps, datanet.id), upload.uploadId)).toEqual(
      masked(await allContributions(clean, cleanDatanet.id), cleanRun.uploadId),
    );
    const acceptedText = (d: TestDeps, id: string, uploadId: string) => d.blobs.text(acceptedBlobKey(id, uploadId))!.replaceAll(uploadId.slice(3), "U");
    expect(acceptedText(deps, datanet.id, upload.uploadId)).toEqual(acceptedText(clean, cleanDatanet.id, cleanRun.uploadId));
    expect(tableRows(deps.db, "contributions").length).toBe(tableRows(clean.db, "contributions").length);
    expect(eventsIn(deps.db).filter((e) => e.type === "upload.completed")).toHaveLength(1);
  });

  it("settles two concurrent runs of the same object into one result and one event: the second defers to the lease holder", async () => {
    const deps = memoryDeps({}, { chunkSize: 1024 });
    const datanet = await newDatanet(deps, alice);
    const upload = await putUpload(deps, bob, datanet.id, mixedFile(1200));
    const [a, b] = await Promise.all([
      ingestObject(deps, { key: upload.key, size: upload.size }),
      ingestObject(deps, { key: upload.key, size: upload.size }),
    ]);
    const done = [a, b].find((r) => r.status === "done")!;
    expect(done).toBeDefined();
    expect([a, b].map((r) => r.status).sort()).toEqual(["busy", "done"]);
    // The deferred notification, delivered again later, finds the upload finished.
    expect(await ingestObject(deps, { key: upload.key, size: upload.size })).toEqual({ status: "skipped", accepted: done.accepted, rejected: done.rejected });
    const items = await allContributions(deps, datanet.id);
    expect(items.filter((c) => c.status === "accepted")).toHaveLength(done.accepted);
    expect(eventsIn(deps.db).filter((e) => e.type === "upload.completed")).toHaveLength(1);
  });

  it("fails an upload whose body does not match its sha256, recording nothing and freeing its hashes", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const body = jsonl({ text: "alpha" }, { text: "beta" });
    const upload = await putUpload(deps, bob, datanet.id, body);
    await deps.blobs.put(upload.key, jsonl({ text: "alphx" }, { text: "beta" })); // same size, other bytes

    const result = await ingestObject(deps, { key: upload.key, size: upload.size });
    expect(result).toEqual({ status: "failed", accepted: 0, rejected: 0 });
    expect(await getUpload(deps, bob, datanet.id, upload.uploadId)).toMatchObject({
      status: "failed",
      error: "object's sha256 differs from the declared one",
    });
    expect(await allContributions(deps, datanet.id)).toEqual([]);
    expect(tableRows(deps.db, "contributions")).toEqual([]);
    expect(deps.blobs.text(acceptedBlobKey(datanet.id, upload.uploadId))).toBeUndefined();
    expect(eventsIn(deps.db).find((e) => e.type === "upload.completed")?.data).toMatchObject({ status: "failed" });

    // The same records uploaded properly are not duplicates of the failed upload.
    expect(await uploadAndIngest(deps, bob, datanet.id, jsonl({ text: "beta" }))).toMatchObject({ accepted: 1, rejected: 0 });
  });

  it("fails an object whose size differs from the declared one without reading it", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const upload = await putUpload(deps, bob, datanet.id, jsonl({ text: "a" }));
    expect(await ingestObject(deps, { key: upload.key, size: upload.size + 5 })).toEqual({ status: "failed", accepted: 0, rejected: 0 });
    expect((await getUpload(deps, bob, datanet.id, upload.uploadId)).error).toMatch(/^object is \d+ bytes but the upload declared \d+$/);
  });

  it("skips keys that are not uploads and objects no upload knows", async () => {
    const deps = memoryDeps();
    expect(await ingestObject(deps, { key: "datanets/dn_x/accepted/up_y.jsonl", size: 10 })).toEqual({ status: "skipped", accepted: 0, rejected: 0 });
    expect(await ingestObject(deps, { key: "uploads/dn_x/up_unknown", size: 10 })).toEqual({ status: "skipped", accepted: 0, rejected: 0 });
  });

  it("rejects a single 50 MB line and keeps the records around it", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const big = Buffer.alloc(50 * 1024 ** 2 + 40, 0x61);
    big.write('{"text":"before"}\n{"text":"', 0);
    big.write('"}\n{"text":"after"}\n', big.length - 20);
    const result = await uploadAndIngest(deps, bob, datanet.id, big);
    expect(result).toMatchObject({ status: "done", accepted: 2, rejected: 1 });
    const items = await allContributions(deps, datanet.id);
    expect(items.map((c) => [c.line, c.status, c.reason])).toEqual([
      [1, "accepted", null],
      [2, "rejected", "record exceeds 1048576 bytes"],
      [3, "accepted", null],
    ]);
    expect(sha256Hex(big)).toBe((await getUpload(deps, bob, datanet.id, result.uploadId)).sha256);
  });

  it("never crashes on binary garbage", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    const result = await uploadAndIngest(deps, bob, datanet.id, garbage);
    expect(result.status).toBe("done");
    expect(result.accepted).toBe(0);
    expect(result.rejected).toBeGreaterThan(0);
  });
});
