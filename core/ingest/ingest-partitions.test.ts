import { describe, expect, it } from "vitest";
import { alice, bob, carol, jsonl, newDatanet, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps, type TestDeps } from "../../test/fakes/memory-deps.ts";
import { listContributions } from "../datanets/contributions.ts";
import { CONTRIBUTION_SHARDS } from "../datanets/contribution-layout.ts";
import { datanetKey, uploadKey } from "../datanets/keys.ts";
import { getProof, publishVersion } from "../datanets/versions.ts";
import { markUploadDeadLettered } from "./mark-upload-dead-lettered.ts";

/** Items of the contributions table per partition key, with what each holds. */
function partitions(deps: TestDeps): Map<string, { rows: number; claims: number; other: number }> {
  const byPk = new Map<string, { rows: number; claims: number; other: number }>();
  for (const { pk, sk } of deps.db.prepare("SELECT pk, sk FROM items_contributions").all() as { pk: string; sk: string }[]) {
    const counts = byPk.get(pk) ?? { rows: 0, claims: 0, other: 0 };
    if (sk.startsWith("C#")) counts.rows++;
    else if (sk.startsWith("H#")) counts.claims++;
    else counts.other++;
    byPk.set(pk, counts);
  }
  return byPk;
}

/** gsi1 partition keys of the contributions table, with their row counts. */
function indexPartitions(deps: TestDeps): Map<string, number> {
  const rows = deps.db.prepare("SELECT gsi1pk, count(*) AS n FROM items_contributions WHERE gsi1pk IS NOT NULL GROUP BY gsi1pk").all() as { gsi1pk: string; n: number }[];
  return new Map(rows.map((r) => [r.gsi1pk, r.n]));
}

const records = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ text: `record ${from + i}` }));

describe("ingest spreads one upload over many partitions", () => {
  it("writes a 2,500-record upload's rows round-robin over 16 shards, its index rows over 16, its claims over the 256 hash prefixes", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const result = await uploadAndIngest(deps, bob, datanet.id, jsonl(...records(2500)));
    expect(result).toMatchObject({ status: "done", accepted: 2500 });

    const byPk = partitions(deps);
    const rowPks = [...byPk].filter(([pk]) => pk.startsWith(`CONTRIB#${datanet.id}#`));
    const claimPks = [...byPk].filter(([pk]) => pk.startsWith(`CLAIM#${datanet.id}#`));
    expect(rowPks).toHaveLength(CONTRIBUTION_SHARDS);
    // Line modulo 16: 2,500 = 16 × 156 + 4, so every shard holds 156 or 157 rows.
    for (const [, counts] of rowPks) {
      expect(counts.rows).toBeGreaterThanOrEqual(156);
      expect(counts.rows).toBeLessThanOrEqual(157);
      expect(counts.claims).toBe(0);
    }
    // 2,500 SHA-256 hashes over 256 first-byte prefixes: all of them taken, none with more than a few dozen.
    expect(claimPks).toHaveLength(256);
    expect(claimPks.reduce((sum, [, c]) => sum + c.claims, 0)).toBe(2500);
    expect(Math.max(...claimPks.map(([, c]) => c.claims))).toBeLessThan(40);
    // Nothing is left in the Datanet's own partition (the checkpoint went when the upload finished).
    expect(byPk.get(`DATANET#${datanet.id}`)).toBeUndefined();

    const index = indexPartitions(deps);
    expect([...index.keys()].every((pk) => /^CONTRIB#dn_[^#]+#[0-9a-f]{2}#accepted$/.test(pk))).toBe(true);
    expect(index.size).toBe(CONTRIBUTION_SHARDS);
  });

  it("still finds a duplicate across uploads and releases a dead-lettered upload's rows and claims in every shard", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    await uploadAndIngest(deps, bob, datanet.id, jsonl(...records(40)));
    // One new record and one seen before, on another line (so another shard) than its first copy.
    const again = await uploadAndIngest(deps, carol, datanet.id, jsonl({ text: "new" }, ...records(1, 37)), "again.jsonl");
    expect(again).toMatchObject({ accepted: 1, rejected: 1 });
    const rejected = await listContributions(deps, carol, datanet.id, { status: "rejected" });
    expect(rejected.items[0]!.reason).toMatch(/^duplicate of contribution ct_.*_0000000038$/);

    // As if its ingest had been given up on before it finished: its rows and claims go, from every shard.
    const upload = (await deps.tables.main.get(uploadKey(datanet.id, again.uploadId)))!;
    await deps.tables.main.put({ ...upload, status: "processing" });
    expect(await markUploadDeadLettered(deps, { key: again.key, reason: "test" })).toEqual({ status: "failed" });
    const rows = [...partitions(deps).values()].reduce((sum, c) => sum + c.rows, 0);
    const claims = [...partitions(deps).values()].reduce((sum, c) => sum + c.claims, 0);
    expect({ rows, claims }).toEqual({ rows: 40, claims: 40 });
  });
});

describe("a Datanet created before sharding", () => {
  /** A Datanet item as written before contributionShards existed. */
  async function legacyDatanet(deps: TestDeps) {
    const datanet = await newDatanet(deps, alice);
    const { contributionShards: _, ...item } = (await deps.tables.main.get(datanetKey(datanet.id)))!;
    await deps.tables.main.put(item);
    return datanet;
  }

  it("keeps its one partition: old rows and claims stay readable and keep deduping, versions and proofs still work", async () => {
    const deps = memoryDeps();
    const datanet = await legacyDatanet(deps);
    // Its rows and claims go where they always went, so the ones written before sharding stay where readers look.
    await uploadAndIngest(deps, bob, datanet.id, jsonl(...records(30)));
    const byPk = partitions(deps);
    expect([...byPk.keys()]).toEqual([`DATANET#${datanet.id}`]);
    expect(byPk.get(`DATANET#${datanet.id}`)).toEqual({ rows: 30, claims: 30, other: 0 });
    expect([...indexPartitions(deps).keys()]).toEqual([`DATANET#${datanet.id}#accepted`]);

    const second = await uploadAndIngest(deps, carol, datanet.id, jsonl(...records(2, 29)), "b.jsonl");
    expect(second).toMatchObject({ accepted: 1, rejected: 1 });
    const page = await listContributions(deps, bob, datanet.id, { limit: 20 });
    expect(page.items).toHaveLength(20);
    const rest = await listContributions(deps, bob, datanet.id, { limit: 20, cursor: page.nextCursor! });
    expect(rest.items).toHaveLength(12);
    expect(rest.nextCursor).toBeUndefined();

    const version = await publishVersion(deps, alice, datanet.id);
    expect(version.records).toBe(31);
    const proof = await getProof(deps, bob, datanet.id, 1, rest.items.at(-1)!.id);
    expect(proof.root).toBe(version.root);
  });
});
