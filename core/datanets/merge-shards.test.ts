import { describe, expect, it } from "vitest";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { InvalidCursorError } from "../errors.ts";
import type { Item, QueryInput, TableStore } from "../ports/tables.ts";
import { mergedPage, mergeShards } from "./merge-shards.ts";

/** Three partitions holding the keys k00..k29 between them, unevenly (k07 to k12 all in S1). */
async function threeShards() {
  const deps = memoryDeps();
  const table = deps.tables.contributions;
  const shardOf = (i: number) => (i >= 7 && i <= 12 ? 1 : i % 3);
  await table.batchPut(
    Array.from({ length: 30 }, (_, i): Item => ({ pk: `S${shardOf(i)}`, sk: `k${String(i).padStart(2, "0")}`, gsi1pk: `S${shardOf(i)}#x`, gsi1sk: `k${String(i).padStart(2, "0")}` })),
  );
  // Count the queries, to show a page reads about its own size, not every shard's whole partition.
  const queries: QueryInput[] = [];
  const counting: TableStore = Object.create(table) as TableStore;
  counting.query = (input) => {
    queries.push(input);
    return table.query(input);
  };
  return { table: counting, queries, partitions: ["S0", "S1", "S2"] };
}

const keys = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, "0")}`);

describe("mergeShards", () => {
  it("yields the items of several partitions in one sort-key order, on the table and on gsi1, with small pages", async () => {
    const { table, partitions } = await threeShards();
    const all: string[] = [];
    for await (const item of mergeShards(table, { partitions, skPrefix: "k", pageSize: 2 })) all.push(item.sk);
    expect(all).toEqual(keys);
    const byIndex: string[] = [];
    for await (const item of mergeShards(table, { partitions: partitions.map((p) => `${p}#x`), index: "gsi1", skPrefix: "", pageSize: 4 })) byIndex.push(item.gsi1sk as string);
    expect(byIndex).toEqual(keys);
    const after: string[] = [];
    for await (const item of mergeShards(table, { partitions, skPrefix: "k", after: "k10" })) after.push(item.sk);
    expect(after).toEqual(keys.slice(11));
  });
});

describe("mergedPage", () => {
  it("pages with a cursor that names the last key: every item once, in order, for any page size", async () => {
    const { table, partitions, queries } = await threeShards();
    for (const limit of [1, 4, 7, 30, 31]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await mergedPage(table, { partitions, skPrefix: "k" }, limit, cursor);
        expect(page.items.length).toBeLessThanOrEqual(limit);
        seen.push(...page.items.map((i) => i.sk));
        cursor = page.cursor;
      } while (cursor);
      expect(seen).toEqual(keys);
    }
    queries.length = 0;
    await mergedPage(table, { partitions, skPrefix: "k" }, 6, undefined);
    // One query per shard of ceil(6 / 3) + 1 items, plus a refill for the shard that holds k07..k12.
    expect(queries.every((q) => q.limit === 3)).toBe(true);
    expect(queries.length).toBeLessThanOrEqual(5);
  });

  it("refuses a cursor it did not issue for this listing", async () => {
    const { table, partitions } = await threeShards();
    const foreign = Buffer.from(JSON.stringify({ after: "z1" })).toString("base64url");
    for (const cursor of ["bogus!", "", foreign, Buffer.from("[1]").toString("base64url")]) {
      await expect(mergedPage(table, { partitions, skPrefix: "k" }, 5, cursor)).rejects.toBeInstanceOf(InvalidCursorError);
    }
  });
});
