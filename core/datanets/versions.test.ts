import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { Readable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { alice, bob, carol, eventsIn, jsonl, newDatanet, putUpload, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { ConflictError, ForbiddenError, NotFoundError } from "../errors.ts";
import { listContributions } from "./contributions.ts";
import { getDatanet } from "./datanets.ts";
import { acceptedBlobKey, versionKey, versionRecordsBlobKey, versionTreeBlobKey } from "./keys.ts";
import type { TableStore } from "../ports/tables.ts";
import { getProof, getVersion, publishVersion } from "./versions.ts";

async function setUp() {
  const deps = memoryDeps();
  const datanet = await newDatanet(deps, alice, { schema: "instruction" });
  await uploadAndIngest(deps, bob, datanet.id, jsonl({ instruction: "a", output: "1" }, "{bad", { instruction: "b", output: "2" }));
  await uploadAndIngest(deps, carol, datanet.id, jsonl({ instruction: "c", output: "three little words" }, { instruction: "a", output: "1" }));
  return { deps, datanet };
}

describe("publishVersion", () => {
  it("freezes accepted contributions into a Merkle root whose proofs verify", async () => {
    const { deps, datanet } = await setUp();
    const version = await publishVersion(deps, alice, datanet.id);
    const accepted = (await listContributions(deps, alice, datanet.id, { status: "accepted" })).items;
    expect(accepted).toHaveLength(3);
    expect(version).toMatchObject({ datanetId: datanet.id, version: 1, records: 3, tokens: accepted.reduce((s, c) => s + c.tokens, 0) });
    expect(version.root).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await getVersion(deps, bob, datanet.id, 1)).toEqual(version);
    expect((await getDatanet(deps, alice, datanet.id)).versions).toBe(1);

    for (const c of accepted) {
      const proof = await getProof(deps, bob, datanet.id, 1, c.id);
      expect(proof.root).toBe(version.root);
      expect(proof.leafEncoding).toEqual(["address", "bytes32", "uint256"]);
      expect(proof.leaf).toEqual([c.contributor, c.contentHash, String(c.tokens)]);
      expect(StandardMerkleTree.verify(proof.root, proof.leafEncoding, proof.leaf, proof.proof)).toBe(true);
      // A forged leaf (more tokens) does not verify.
      expect(StandardMerkleTree.verify(proof.root, proof.leafEncoding, [c.contributor, c.contentHash, String(c.tokens + 1)], proof.proof)).toBe(false);
    }

    const records = deps.blobs.text(versionRecordsBlobKey(datanet.id, 1))!.trim().split("\n").map((l) => JSON.parse(l));
    expect(records.map((r) => [r.contributionId, r.contributor, r.record])).toEqual([
      [accepted[0]!.id, bob.address, { instruction: "a", output: "1" }],
      [accepted[1]!.id, bob.address, { instruction: "b", output: "2" }],
      [accepted[2]!.id, carol.address, { instruction: "c", output: "three little words" }],
    ]);
    const event = eventsIn(deps.db).find((e) => e.type === "datanet.version.published")!;
    expect(event.data).toEqual({ datanetId: datanet.id, version: 1, root: version.root, records: 3, tokens: version.tokens });
    expect(event.audience).toEqual([alice.address]);
  });

  it("numbers versions in order and leaves out uploads still being processed", async () => {
    const { deps, datanet } = await setUp();
    const v1 = await publishVersion(deps, alice, datanet.id);
    await putUpload(deps, bob, datanet.id, jsonl({ instruction: "not yet", output: "x" })); // stored, not ingested
    await uploadAndIngest(deps, bob, datanet.id, jsonl({ instruction: "d", output: "4" }));
    const v2 = await publishVersion(deps, alice, datanet.id);
    expect(v2).toMatchObject({ version: 2, records: 4 });
    expect(v2.root).not.toBe(v1.root);
    expect(await getVersion(deps, alice, datanet.id, 1)).toEqual(v1);
  });

  it("gives two concurrent publishes different numbers or a conflict, never the same number", async () => {
    const { deps, datanet } = await setUp();
    const results = await Promise.allSettled([publishVersion(deps, alice, datanet.id), publishVersion(deps, alice, datanet.id)]);
    const published = results.filter((r) => r.status === "fulfilled").map((r) => r.value.version);
    const conflicts = results.filter((r) => r.status === "rejected").map((r) => r.reason);
    expect(new Set(published).size).toBe(published.length);
    expect(conflicts.every((e) => e instanceof ConflictError)).toBe(true);
    expect(published).toContain(1);
    expect((await publishVersion(deps, alice, datanet.id)).version).toBe(published.length + 1);
  });

  it("takes over a reservation left by a publish that died, but not a live one", async () => {
    const { deps, datanet } = await setUp();
    const reservation = { ...versionKey(datanet.id, 1), datanetId: datanet.id, version: 1, state: "publishing", publishId: "pub_dead" };
    await deps.tables.main.put({ ...reservation, reservedUntil: deps.clock.now() + 60_000 });
    await expect(publishVersion(deps, alice, datanet.id)).rejects.toThrow(ConflictError);
    deps.clock.advance(120_000);
    expect((await publishVersion(deps, alice, datanet.id)).version).toBe(1);
  });

  it("is for the owner only, and needs accepted contributions", async () => {
    const { deps, datanet } = await setUp();
    await expect(publishVersion(deps, bob, datanet.id)).rejects.toThrow(ForbiddenError);
    const empty = await newDatanet(deps, alice);
    await uploadAndIngest(deps, alice, empty.id, jsonl("{nope"));
    await expect(publishVersion(deps, alice, empty.id)).rejects.toMatchObject({ code: "nothing-to-publish", status: 409 });
    const secret = await newDatanet(deps, alice, { visibility: "private" });
    await expect(publishVersion(deps, bob, secret.id)).rejects.toThrow(NotFoundError);
  });
});

describe("publishVersion when reads disagree", () => {
  it("reads accepted contributions from the base table, so a lagging index loses none", async () => {
    const { deps, datanet } = await setUp();
    // DynamoDB's gsi1 may not show rows of an upload that has just finished.
    const inner = deps.tables.contributions;
    const lagging: TableStore = Object.create(inner) as TableStore;
    lagging.query = async (input) => (input.index === "gsi1" ? { items: [] } : inner.query(input));
    const version = await publishVersion({ ...deps, tables: { ...deps.tables, contributions: lagging } }, alice, datanet.id);
    expect(version.records).toBe(3);
  });

  it("answers a retryable 409 version-conflict, not a 500, when contributions and accepted records disagree", async () => {
    const { deps, datanet } = await setUp();
    const [first] = (await listContributions(deps, alice, datanet.id, { status: "accepted" })).items;
    const key = acceptedBlobKey(datanet.id, first!.uploadId);
    const lines = deps.blobs.text(key)!.split("\n");
    await deps.blobs.put(key, lines.slice(1).join("\n")); // the blob lost its first record
    await expect(publishVersion(deps, alice, datanet.id)).rejects.toMatchObject({ name: "ConflictError", status: 409, code: "version-conflict" });
    // The number was given back, and the version is not there.
    expect(await deps.tables.main.get(versionKey(datanet.id, 1))).toBeUndefined();
    await deps.blobs.delete(key);
    await expect(publishVersion(deps, alice, datanet.id)).rejects.toMatchObject({ status: 409, code: "version-conflict" });
  });

  it("streams tree.json to the store instead of building one string", async () => {
    const { deps, datanet } = await setUp();
    const put = vi.spyOn(deps.blobs, "put");
    await publishVersion(deps, alice, datanet.id);
    const treePut = put.mock.calls.find(([key]) => key === versionTreeBlobKey(datanet.id, 1))!;
    expect(treePut[1]).toBeInstanceOf(Readable);
    expect(JSON.parse(deps.blobs.text(versionTreeBlobKey(datanet.id, 1))!)).toMatchObject({ format: "standard-v1", leafEncoding: ["address", "bytes32", "uint256"] });
  });
});

describe("getVersion and getProof", () => {
  it("build proofs from the stored nodes, without StandardMerkleTree.load, reading each version's tree once", async () => {
    const { deps, datanet } = await setUp();
    const version = await publishVersion(deps, alice, datanet.id);
    const accepted = (await listContributions(deps, alice, datanet.id, { status: "accepted" })).items;
    const load = vi.spyOn(StandardMerkleTree, "load");
    const get = vi.spyOn(deps.blobs, "get");
    for (const c of accepted) {
      const proof = await getProof(deps, bob, datanet.id, 1, c.id);
      expect(StandardMerkleTree.verify(version.root, proof.leafEncoding, proof.leaf, proof.proof)).toBe(true);
    }
    expect(load).not.toHaveBeenCalled();
    expect(get.mock.calls.filter(([key]) => key === versionTreeBlobKey(datanet.id, 1))).toHaveLength(1);
    load.mockRestore();
  });


  it("report unknown versions and contributions outside the version as not found", async () => {
    const { deps, datanet } = await setUp();
    await publishVersion(deps, alice, datanet.id);
    await expect(getVersion(deps, alice, datanet.id, 2)).rejects.toThrow(NotFoundError);
    const rejected = (await listContributions(deps, alice, datanet.id, { status: "rejected" })).items[0]!;
    await expect(getProof(deps, alice, datanet.id, 1, rejected.id)).rejects.toThrow(NotFoundError);
    await expect(getProof(deps, alice, datanet.id, 1, "ct_nope")).rejects.toThrow(NotFoundError);
  });

  it("hide a private Datanet's versions from other accounts", async () => {
    const deps = memoryDeps();
    const secret = await newDatanet(deps, alice, { visibility: "private" });
    const upload = await uploadAndIngest(deps, alice, secret.id, jsonl({ text: "mine" }));
    await publishVersion(deps, alice, secret.id);
    const [c] = (await listContributions(deps, alice, secret.id)).items;
    await expect(getVersion(deps, bob, secret.id, 1)).rejects.toThrow(NotFoundError);
    await expect(getProof(deps, bob, secret.id, 1, c!.id)).rejects.toThrow(NotFoundError);
    expect(upload.accepted).toBe(1);
  });
});
