import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listContributions } from "../../core/datanets/contributions.ts";
import { contributionLayout } from "../../core/datanets/contribution-layout.ts";
import { datanetKey } from "../../core/datanets/keys.ts";
import type { Contribution } from "../../core/datanets/model.ts";
import { getDatanetStats } from "../../core/datanets/stats.ts";
import { getProof, publishVersion } from "../../core/datanets/versions.ts";
import type { Item, TableStore } from "../../core/ports/tables.ts";
import { alice, bob, carol, jsonl, newDatanet, uploadAndIngest } from "../fakes/datanet-fixtures.ts";
import { memoryDeps, type TestDeps } from "../fakes/memory-deps.ts";

/**
 * The read paths over a sharded Datanet, on a given TableStore: two uploads
 * are ingested on SQLite (ingest's claims need transactions, which dynalite
 * lacks), every contributions-table item is copied as written into the
 * store under test, and the listing, the by-status listing, the stats, a
 * version build and its proofs then read only from that store.
 */
export function describeShardedContributionsConformance(name: string, makeStore: () => Promise<{ store: TableStore; cleanup: () => Promise<void> }>): void {
  describe(`sharded contributions on ${name}`, () => {
    let deps: TestDeps;
    let datanetId: string;
    let expected: { uploadId: string; line: number; status: string }[];
    let cleanup: (() => Promise<void>) | undefined;
    afterAll(async () => {
      await cleanup?.();
    });

    beforeAll(async () => {
      const source = memoryDeps();
      const datanet = await newDatanet(source, alice);
      datanetId = datanet.id;
      // 45 records: every 5th is broken, line 2 repeats line 1 (a duplicate); then a second upload.
      const first = Array.from({ length: 45 }, (_, i) => (i % 5 === 4 ? "{broken" : i === 1 ? { text: "r0" } : { text: `r${i}` }));
      const u1 = await uploadAndIngest(source, bob, datanetId, jsonl(...first));
      const u2 = await uploadAndIngest(source, carol, datanetId, jsonl({ text: "late 1" }, { text: "late 2" }, { text: "r3" }));
      expected = [
        ...first.map((r, i) => ({ uploadId: u1.uploadId, line: i + 1, status: r === "{broken" || i === 1 ? "rejected" : "accepted" })),
        { uploadId: u2.uploadId, line: 1, status: "accepted" },
        { uploadId: u2.uploadId, line: 2, status: "accepted" },
        { uploadId: u2.uploadId, line: 3, status: "rejected" },
      ];

      const fixture = await makeStore();
      cleanup = fixture.cleanup;
      const store = fixture.store;
      const rows = (source.db.prepare("SELECT data FROM items_contributions").all() as { data: string }[]).map((r) => JSON.parse(r.data) as Item);
      await store.batchPut(rows);
      deps = { ...source, tables: { ...source.tables, contributions: store } };
    });

    it("a Datanet's rows lie on all 16 shards; paging through them at odd page sizes gives upload-then-line order, each row once", async () => {
      const layout = contributionLayout((await deps.tables.main.get(datanetKey(datanetId)))!);
      expect(layout.shards).toBe(16);
      const perShard = await Promise.all(layout.rowPartitions.map(async (pk) => (await deps.tables.contributions.query({ pk, skPrefix: "C#" })).items.length));
      expect(perShard.every((n) => n >= 2)).toBe(true);
      expect(perShard.reduce((a, b) => a + b, 0)).toBe(expected.length);

      for (const limit of [7, 50]) {
        const seen: Contribution[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await listContributions(deps, bob, datanetId, { limit, ...(cursor ? { cursor } : {}) });
          expect(page.items.length).toBeLessThanOrEqual(limit);
          seen.push(...page.items);
          cursor = page.nextCursor;
          pages++;
        } while (cursor);
        expect(pages).toBe(Math.ceil(expected.length / limit));
        expect(seen.map((c) => ({ uploadId: c.uploadId, line: c.line, status: c.status }))).toEqual(expected);
      }
    });

    it("pages one status through the by-status index shards, in the same order", async () => {
      for (const status of ["accepted", "rejected"] as const) {
        const seen: Contribution[] = [];
        let cursor: string | undefined;
        do {
          const page = await listContributions(deps, bob, datanetId, { status, limit: 5, ...(cursor ? { cursor } : {}) });
          seen.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen.map((c) => [c.uploadId, c.line])).toEqual(expected.filter((e) => e.status === status).map((e) => [e.uploadId, e.line]));
      }
    });

    it("counts every shard in the stats", async () => {
      const stats = await getDatanetStats(deps, bob, datanetId);
      expect(stats).toMatchObject({ accepted: expected.filter((e) => e.status === "accepted").length, rejected: expected.filter((e) => e.status === "rejected").length, complete: true });
    });

    it("builds a version from every shard in leaf order, and each proof verifies against its root", async () => {
      const version = await publishVersion(deps, alice, datanetId);
      const accepted = await listContributions(deps, alice, datanetId, { status: "accepted", limit: 1000 });
      expect(version.records).toBe(accepted.items.length);
      // The frozen records come in contribution order, whichever shard each row came from.
      const chunks: Buffer[] = [];
      for await (const chunk of (await deps.blobs.get(`datanets/${datanetId}/versions/1/records.jsonl`))!) chunks.push(chunk as Buffer);
      const frozen = Buffer.concat(chunks)
        .toString("utf8")
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { contributionId: string }).contributionId);
      expect(frozen).toEqual(accepted.items.map((c) => c.id));
      for (const c of [accepted.items[0]!, accepted.items[17]!, accepted.items.at(-1)!]) {
        const proof = await getProof(deps, bob, datanetId, 1, c.id);
        expect(proof.leaf).toEqual([c.contributor, c.contentHash, String(c.tokens)]);
        expect(StandardMerkleTree.verify(version.root, proof.leafEncoding, proof.leaf, proof.proof)).toBe(true);
      }
    });
  });
}
