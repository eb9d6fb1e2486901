import { afterEach, describe, expect, it } from "vitest";
import { ConditionFailedError, TransactionCanceledError } from "../../core/errors.ts";
import type { Item, QueryInput, TableStore } from "../../core/ports/tables.ts";

export interface TableStoreFixture {
  store: TableStore;
  cleanup: () => Promise<void>;
}

export interface TableStoreConformanceOptions {
  /** Tests this adapter cannot run here, each with the reason (an emulator gap, never a store gap). */
  skip?: { transact?: string; equalsOnMaps?: string };
}

/** Reads every page of a query, checking that no page is larger than `limit`. */
async function readAll(store: TableStore, input: QueryInput): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.query({ ...input, ...(cursor ? { cursor } : {}) });
    if (input.limit) expect(page.items.length).toBeLessThanOrEqual(input.limit);
    items.push(...page.items);
    cursor = page.cursor;
    if (!cursor) return items;
  }
  throw new Error("query never ran out of pages");
}

/**
 * The behaviour every TableStore must share (SQLite locally, DynamoDB on AWS).
 * `makeStore` gives a fresh, empty table per test.
 */
export function describeTableStoreConformance(
  name: string,
  makeStore: () => Promise<TableStoreFixture>,
  options: TableStoreConformanceOptions = {},
): void {
  describe(`TableStore conformance: ${name}`, () => {
    let fixture: TableStoreFixture | undefined;
    const fresh = async () => {
      fixture = await makeStore();
      return fixture.store;
    };
    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    it("puts and gets JSON items, dropping undefined attributes", async () => {
      const store = await fresh();
      const item = { pk: "P", sk: "S", n: 1.5, s: "", b: false, nil: null, list: [1, "a", { x: [] }], map: { deep: { v: "w" } }, gone: undefined };
      await store.put(item);
      const back = await store.get({ pk: "P", sk: "S" });
      expect(back).toEqual({ pk: "P", sk: "S", n: 1.5, s: "", b: false, nil: null, list: [1, "a", { x: [] }], map: { deep: { v: "w" } } });
      expect(back && "gone" in back).toBe(false);
      expect(await store.get({ pk: "P", sk: "other" })).toBeUndefined();
    });

    it("overwrites on put and deletes (deleting nothing is fine)", async () => {
      const store = await fresh();
      await store.put({ pk: "P", sk: "S", v: 1, old: true });
      await store.put({ pk: "P", sk: "S", v: 2 });
      expect(await store.get({ pk: "P", sk: "S" })).toEqual({ pk: "P", sk: "S", v: 2 });
      await store.delete({ pk: "P", sk: "S" });
      expect(await store.get({ pk: "P", sk: "S" })).toBeUndefined();
      await store.delete({ pk: "P", sk: "S" });
    });

    it("enforces notExists, exists and equals conditions on put and delete", async () => {
      const store = await fresh();
      await expect(store.put({ pk: "P", sk: "S", rev: 1 }, { exists: true })).rejects.toBeInstanceOf(ConditionFailedError);
      await store.put({ pk: "P", sk: "S", rev: 1, state: "open" }, { notExists: true });
      await expect(store.put({ pk: "P", sk: "S", rev: 9 }, { notExists: true })).rejects.toBeInstanceOf(ConditionFailedError);
      await store.put({ pk: "P", sk: "S", rev: 2 }, { equals: { rev: 1, state: "open" } });
      await expect(store.put({ pk: "P", sk: "S", rev: 3 }, { equals: { rev: 1 } })).rejects.toBeInstanceOf(ConditionFailedError);
      await expect(store.put({ pk: "Q", sk: "S", rev: 3 }, { equals: { rev: 2 } })).rejects.toBeInstanceOf(ConditionFailedError);
      await expect(store.delete({ pk: "P", sk: "S" }, { equals: { rev: 1 } })).rejects.toBeInstanceOf(ConditionFailedError);
      expect((await store.get({ pk: "P", sk: "S" }))?.rev).toBe(2);
      await store.put({ pk: "P", sk: "S", rev: 3 }, { exists: true });
      await store.delete({ pk: "P", sk: "S" }, { equals: { rev: 3 } });
      expect(await store.get({ pk: "P", sk: "S" })).toBeUndefined();
      await expect(store.delete({ pk: "P", sk: "S" }, { exists: true })).rejects.toBeInstanceOf(ConditionFailedError);
    });

    it.skipIf(options.skip?.equalsOnMaps !== undefined)("compares maps and lists by value in equals conditions", async () => {
      const store = await fresh();
      await store.put({ pk: "P", sk: "S", state: { phase: "open", n: 1 }, tags: ["a", "b"] });
      await store.put({ pk: "P", sk: "S", state: { phase: "shut", n: 2 }, tags: ["a"] }, { equals: { state: { phase: "open", n: 1 }, tags: ["a", "b"] } });
      await expect(store.put({ pk: "P", sk: "S" }, { equals: { state: { phase: "open", n: 1 } } })).rejects.toBeInstanceOf(ConditionFailedError);
      await expect(store.put({ pk: "P", sk: "S" }, { equals: { tags: ["a", "b"] } })).rejects.toBeInstanceOf(ConditionFailedError);
      expect(await store.get({ pk: "P", sk: "S" })).toMatchObject({ state: { phase: "shut" }, tags: ["a"] });
    });

    describe.skipIf(options.skip?.transact !== undefined)("transact", () => {
      it("commits puts, deletes and checks together", async () => {
        const store = await fresh();
        await store.put({ pk: "A", sk: "1", rev: 1 });
        await store.put({ pk: "B", sk: "1" });
        await store.transact([
          { put: { pk: "A", sk: "1", rev: 2 }, condition: { equals: { rev: 1 } } },
          { delete: { pk: "B", sk: "1" }, condition: { exists: true } },
          { put: { pk: "C", sk: "1" }, condition: { notExists: true } },
          { check: { pk: "A", sk: "lock" }, condition: { notExists: true } },
        ]);
        expect((await store.get({ pk: "A", sk: "1" }))?.rev).toBe(2);
        expect(await store.get({ pk: "B", sk: "1" })).toBeUndefined();
        expect(await store.get({ pk: "C", sk: "1" })).toBeDefined();
        expect(await store.get({ pk: "A", sk: "lock" })).toBeUndefined();
      });

      it("rolls everything back and names each failed condition", async () => {
        const store = await fresh();
        await store.put({ pk: "A", sk: "1", rev: 1 });
        await store.put({ pk: "B", sk: "1" });
        const attempt = store.transact([
          { put: { pk: "N", sk: "1" } },
          { put: { pk: "A", sk: "1", rev: 2 }, condition: { equals: { rev: 7 } } },
          { delete: { pk: "B", sk: "1" } },
          { check: { pk: "Z", sk: "1" }, condition: { exists: true } },
        ]);
        await expect(attempt).rejects.toBeInstanceOf(TransactionCanceledError);
        await expect(attempt).rejects.toMatchObject({ failedIndexes: [1, 3] });
        expect(await store.get({ pk: "N", sk: "1" })).toBeUndefined();
        expect((await store.get({ pk: "A", sk: "1" }))?.rev).toBe(1);
        expect(await store.get({ pk: "B", sk: "1" })).toBeDefined();
      });

      it("refuses a transaction naming one key twice", async () => {
        const store = await fresh();
        await expect(store.transact([{ put: { pk: "A", sk: "1" } }, { delete: { pk: "A", sk: "1" } }])).rejects.toThrow(/at most once/);
        expect(await store.get({ pk: "A", sk: "1" })).toBeUndefined();
      });
    });

    it("pages through a partition in both directions, with a cursor only while items remain", async () => {
      const store = await fresh();
      for (const n of [3, 1, 2, 5, 4]) await store.put({ pk: "P", sk: `S#${n}`, n });
      await store.put({ pk: "Q", sk: "S#9", n: 9 });
      const first = await store.query({ pk: "P", limit: 2 });
      expect(first.items.map((i) => i.n)).toEqual([1, 2]);
      const second = await store.query({ pk: "P", limit: 2, cursor: first.cursor! });
      expect(second.items.map((i) => i.n)).toEqual([3, 4]);
      const third = await store.query({ pk: "P", limit: 2, cursor: second.cursor! });
      expect(third.items.map((i) => i.n)).toEqual([5]);
      expect(third.cursor).toBeUndefined();
      expect((await readAll(store, { pk: "P", limit: 2, reverse: true })).map((i) => i.n)).toEqual([5, 4, 3, 2, 1]);
      // A page that ends exactly at the last item has no cursor.
      expect((await store.query({ pk: "P", limit: 5 })).cursor).toBeUndefined();
      expect(await store.query({ pk: "nothing" })).toEqual({ items: [] });
    });

    it("selects sort keys by prefix and by closed range", async () => {
      const store = await fresh();
      for (const sk of ["A#1", "B#1", "B#2", "B#3", "BB#1", "C#1"]) await store.put({ pk: "P", sk });
      const sks = (items: Item[]) => items.map((i) => i.sk);
      expect(sks((await store.query({ pk: "P", skPrefix: "B#" })).items)).toEqual(["B#1", "B#2", "B#3"]);
      expect(sks(await readAll(store, { pk: "P", skPrefix: "B#", limit: 1, reverse: true }))).toEqual(["B#3", "B#2", "B#1"]);
      expect(sks((await store.query({ pk: "P", skBetween: ["B#2", "BB#1"] })).items)).toEqual(["B#2", "B#3", "BB#1"]);
      expect(sks(await readAll(store, { pk: "P", skBetween: ["A#1", "B#2"], limit: 2, reverse: true }))).toEqual(["B#2", "B#1", "A#1"]);
    });

    it("pages through the gsi1 index, which holds only items with gsi1pk", async () => {
      const store = await fresh();
      // Three base partitions; repeated gsi1sk values must still page without loss or repeat.
      const rows = [
        { pk: "U#1", sk: "D#1", gsi1pk: "OWNER#x", gsi1sk: "2024-01-03" },
        { pk: "U#1", sk: "D#2", gsi1pk: "OWNER#x", gsi1sk: "2024-01-01" },
        { pk: "U#2", sk: "D#1", gsi1pk: "OWNER#x", gsi1sk: "2024-01-02" },
        { pk: "U#2", sk: "D#2", gsi1pk: "OWNER#x", gsi1sk: "2024-01-02" },
        { pk: "U#3", sk: "D#1", gsi1pk: "OWNER#x", gsi1sk: "2024-01-02" },
        { pk: "U#3", sk: "D#2", gsi1pk: "OWNER#y", gsi1sk: "2024-01-01" },
        { pk: "U#3", sk: "D#3" },
      ];
      for (const row of rows) await store.put(row);
      const forward = await readAll(store, { pk: "OWNER#x", index: "gsi1", limit: 2 });
      expect(forward.map((i) => i.gsi1sk)).toEqual(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-02", "2024-01-03"]);
      expect(new Set(forward.map((i) => `${i.pk}/${i.sk}`)).size).toBe(5);
      const backward = await readAll(store, { pk: "OWNER#x", index: "gsi1", limit: 2, reverse: true });
      expect(backward.map((i) => i.gsi1sk)).toEqual(["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-02", "2024-01-01"]);
      expect(new Set(backward.map((i) => `${i.pk}/${i.sk}`)).size).toBe(5);
      const between = await readAll(store, { pk: "OWNER#x", index: "gsi1", skBetween: ["2024-01-02", "2024-01-02"], limit: 1 });
      expect(between).toHaveLength(3);
      expect((await store.query({ pk: "OWNER#x", index: "gsi1", skPrefix: "2024-01-0" })).items).toHaveLength(5);
    });

    it("batch-puts 60 items (more than one DynamoDB batch), the last write of a key winning", async () => {
      const store = await fresh();
      const items = Array.from({ length: 60 }, (_, n) => ({ pk: "BULK", sk: `R#${String(n).padStart(3, "0")}`, n }));
      await store.batchPut([...items, { pk: "BULK", sk: "R#000", n: -1 }]);
      const all = await readAll(store, { pk: "BULK", limit: 25 });
      expect(all).toHaveLength(60);
      expect(all.map((i) => i.n)).toEqual([-1, ...items.slice(1).map((i) => i.n)]);
      await store.batchPut([]);
    });

    it("refuses a cursor it did not issue", async () => {
      const store = await fresh();
      await store.put({ pk: "P", sk: "S" });
      await expect(store.query({ pk: "P", cursor: "not-a-cursor" })).rejects.toThrow(/cursor/i);
      const foreign = Buffer.from(JSON.stringify({ hello: "world" })).toString("base64url");
      await expect(store.query({ pk: "P", cursor: foreign })).rejects.toThrow(/cursor/i);
    });
  });
}
