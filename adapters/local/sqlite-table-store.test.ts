import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { ConditionFailedError, TransactionCanceledError } from "../../core/errors.ts";
import { SqliteTableStore } from "./sqlite-table-store.ts";

function store(stream = true) {
  const db = new DatabaseSync(":memory:");
  return { db, table: new SqliteTableStore(db, "main", { stream }) };
}

describe("SqliteTableStore", () => {
  it("puts, gets and pages through a partition in sort-key order", async () => {
    const { table } = store();
    for (const n of [3, 1, 2, 5, 4]) await table.put({ pk: "P", sk: `S#${n}`, n });
    await table.put({ pk: "Q", sk: "S#9" });
    const first = await table.query({ pk: "P", skPrefix: "S#", limit: 2 });
    expect(first.items.map((i) => i.n)).toEqual([1, 2]);
    const second = await table.query({ pk: "P", skPrefix: "S#", limit: 2, cursor: first.cursor! });
    expect(second.items.map((i) => i.n)).toEqual([3, 4]);
    const third = await table.query({ pk: "P", skPrefix: "S#", limit: 2, cursor: second.cursor! });
    expect(third.items.map((i) => i.n)).toEqual([5]);
    expect(third.cursor).toBeUndefined();
    expect((await table.query({ pk: "P", reverse: true, limit: 1 })).items[0]?.n).toBe(5);
  });

  it("queries the secondary index", async () => {
    const { table } = store();
    await table.put({ pk: "A", sk: "x", gsi1pk: "G", gsi1sk: "2" });
    await table.put({ pk: "B", sk: "x", gsi1pk: "G", gsi1sk: "1" });
    await table.put({ pk: "C", sk: "x" });
    const page = await table.query({ pk: "G", index: "gsi1" });
    expect(page.items.map((i) => i.pk)).toEqual(["B", "A"]);
  });

  it("enforces conditions", async () => {
    const { table } = store();
    await table.put({ pk: "P", sk: "S", rev: 1 }, { notExists: true });
    await expect(table.put({ pk: "P", sk: "S", rev: 1 }, { notExists: true })).rejects.toBeInstanceOf(ConditionFailedError);
    await table.put({ pk: "P", sk: "S", rev: 2 }, { equals: { rev: 1 } });
    await expect(table.put({ pk: "P", sk: "S", rev: 3 }, { equals: { rev: 1 } })).rejects.toBeInstanceOf(ConditionFailedError);
    expect((await table.get({ pk: "P", sk: "S" }))?.rev).toBe(2);
  });

  it("rolls a transaction back when any condition fails", async () => {
    const { table } = store();
    await table.put({ pk: "P", sk: "taken" });
    const attempt = table.transact([
      { put: { pk: "P", sk: "new" } },
      { put: { pk: "P", sk: "taken" }, condition: { notExists: true } },
    ]);
    await expect(attempt).rejects.toBeInstanceOf(TransactionCanceledError);
    await expect(attempt).rejects.toMatchObject({ failedIndexes: [1] });
    expect(await table.get({ pk: "P", sk: "new" })).toBeUndefined();
  });

  it("records INSERT, MODIFY and REMOVE with images in the outbox", async () => {
    const { db, table } = store();
    await table.put({ pk: "P", sk: "S", v: 1 });
    await table.put({ pk: "P", sk: "S", v: 2 });
    await table.delete({ pk: "P", sk: "S" });
    const rows = db.prepare("SELECT event_name, old_image, new_image FROM stream_records ORDER BY seq").all() as Record<string, string | null>[];
    expect(rows.map((r) => r.event_name)).toEqual(["INSERT", "MODIFY", "REMOVE"]);
    expect(JSON.parse(rows[1]!.old_image!).v).toBe(1);
    expect(JSON.parse(rows[1]!.new_image!).v).toBe(2);
    expect(rows[2]!.new_image).toBeNull();
  });

  it("writes no outbox rows for a table without a stream", async () => {
    const { db, table } = store(false);
    await table.batchPut([{ pk: "P", sk: "1" }, { pk: "P", sk: "2" }]);
    expect(db.prepare("SELECT count(*) AS n FROM stream_records").get()).toEqual({ n: 0 });
  });
});

describe("SqliteTableStore.deleteExpired (DynamoDB TTL locally)", () => {
  it("deletes items whose ttl has passed, with a REMOVE stream record, and keeps the rest", async () => {
    const db = new DatabaseSync(":memory:");
    const store = new SqliteTableStore(db, "main", { stream: true });
    await store.put({ pk: "NONCE#old", sk: "NONCE", ttl: 99 });
    await store.put({ pk: "NONCE#new", sk: "NONCE", ttl: 101 });
    await store.put({ pk: "KEEP", sk: "X" });
    expect(store.deleteExpired(100)).toBe(1);
    expect(await store.get({ pk: "NONCE#old", sk: "NONCE" })).toBeUndefined();
    expect(await store.get({ pk: "NONCE#new", sk: "NONCE" })).toBeDefined();
    expect(await store.get({ pk: "KEEP", sk: "X" })).toBeDefined();
    const removes = db.prepare("SELECT keys FROM stream_records WHERE event_name = 'REMOVE'").all() as { keys: string }[];
    expect(removes.map((r) => JSON.parse(r.keys))).toEqual([{ pk: "NONCE#old", sk: "NONCE" }]);
  });
});
