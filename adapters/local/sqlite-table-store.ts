import type { DatabaseSync, StatementSync } from "node:sqlite";
import { ConditionFailedError, InvalidCursorError, TransactionCanceledError } from "../../core/errors.ts";
import type { Condition, Item, Key, Page, QueryInput, TableStore, WriteOp } from "../../core/ports/tables.ts";
import { MAX_TRANSACT_OPS } from "../../core/ports/tables.ts";
import { inTransaction } from "./sqlite-transaction.ts";

const MAX_PAGE = 1000;

/** A change to one item, written to the outbox in the same transaction as the item. */
export interface ChangeRecord {
  table: string;
  eventName: "INSERT" | "MODIFY" | "REMOVE";
  keys: Key;
  oldImage?: Item;
  newImage?: Item;
}

/**
 * TableStore on node:sqlite. One SQL table per logical table; when `stream` is
 * on, every change also lands in the `stream_records` outbox in the same SQLite
 * transaction, as DynamoDB Streams would record it (NEW_AND_OLD_IMAGES).
 */
export class SqliteTableStore implements TableStore {
  readonly #db: DatabaseSync;
  readonly #name: string;
  readonly #stream: boolean;
  readonly #sql: Record<"get" | "upsert" | "del" | "outbox", StatementSync>;

  constructor(db: DatabaseSync, name: string, options: { stream: boolean }) {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`bad table name ${name}`);
    this.#db = db;
    this.#name = name;
    this.#stream = options.stream;
    const t = `items_${name}`;
    db.exec(`
      CREATE TABLE IF NOT EXISTS ${t} (
        pk TEXT NOT NULL, sk TEXT NOT NULL, gsi1pk TEXT, gsi1sk TEXT, data TEXT NOT NULL,
        PRIMARY KEY (pk, sk)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS ${t}_gsi1 ON ${t} (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
      CREATE TABLE IF NOT EXISTS stream_records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, event_name TEXT NOT NULL,
        keys TEXT NOT NULL, old_image TEXT, new_image TEXT, created_at INTEGER NOT NULL);
    `);
    this.#sql = {
      get: db.prepare(`SELECT data FROM ${t} WHERE pk = ? AND sk = ?`),
      upsert: db.prepare(
        `INSERT INTO ${t} (pk, sk, gsi1pk, gsi1sk, data) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (pk, sk) DO UPDATE SET gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk, data = excluded.data`,
      ),
      del: db.prepare(`DELETE FROM ${t} WHERE pk = ? AND sk = ?`),
      outbox: db.prepare(
        `INSERT INTO stream_records (table_name, event_name, keys, old_image, new_image, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  async get(key: Key): Promise<Item | undefined> {
    return this.#read(key);
  }

  async put(item: Item, condition?: Condition): Promise<void> {
    inTransaction(this.#db, () => {
      if (condition && !holds(condition, this.#read(item))) throw new ConditionFailedError();
      this.#write(item);
    });
  }

  async delete(key: Key, condition?: Condition): Promise<void> {
    inTransaction(this.#db, () => {
      if (condition && !holds(condition, this.#read(key))) throw new ConditionFailedError();
      this.#remove(key);
    });
  }

  async batchPut(items: Item[]): Promise<void> {
    inTransaction(this.#db, () => {
      for (const item of items) this.#write(item);
    });
  }

  async transact(ops: WriteOp[]): Promise<void> {
    if (ops.length > MAX_TRANSACT_OPS) throw new Error(`transact takes at most ${MAX_TRANSACT_OPS} operations`);
    const keys = new Set(ops.map((op) => keyString(opKey(op))));
    if (keys.size !== ops.length) throw new Error("transact: each key may appear at most once");
    inTransaction(this.#db, () => {
      const failed = ops.flatMap((op, i) => (op.condition && !holds(op.condition, this.#read(opKey(op))) ? [i] : []));
      if (failed.length > 0) throw new TransactionCanceledError(failed);
      for (const op of ops) {
        if ("put" in op) this.#write(op.put);
        else if ("delete" in op) this.#remove(op.delete);
      }
    });
  }

  /**
   * What DynamoDB's TTL does on AWS: deletes items whose `ttl` attribute (epoch
   * seconds) has passed, at most `limit` per call, each with a REMOVE stream
   * record. Returns how many went. The local runtime calls it on a timer.
   */
  deleteExpired(nowSeconds: number, limit = 500): number {
    const rows = this.#db
      .prepare(`SELECT pk, sk FROM items_${this.#name} WHERE json_extract(data, '$.ttl') < ? LIMIT ?`)
      .all(nowSeconds, limit) as { pk: string; sk: string }[];
    inTransaction(this.#db, () => {
      for (const key of rows) this.#remove(key);
    });
    return rows.length;
  }

  async query(input: QueryInput): Promise<Page<Item>> {
    const limit = Math.min(input.limit ?? MAX_PAGE, MAX_PAGE);
    const onIndex = input.index === "gsi1";
    const [pkCol, skCol] = onIndex ? ["gsi1pk", "gsi1sk"] : ["pk", "sk"];
    // The index orders by (gsi1sk, pk, sk) so that a cursor is unique even when gsi1sk repeats.
    const order = onIndex ? ["gsi1sk", "pk", "sk"] : ["sk"];
    const dir = input.reverse ? "DESC" : "ASC";
    const where = [`${pkCol} = ?`];
    const params: (string | number)[] = [input.pk];
    if (input.skPrefix !== undefined) {
      where.push(`${skCol} >= ? AND ${skCol} < ?`);
      params.push(input.skPrefix, input.skPrefix + "\u{10FFFF}");
    }
    if (input.skBetween) {
      where.push(`${skCol} BETWEEN ? AND ?`);
      params.push(input.skBetween[0], input.skBetween[1]);
    }
    if (input.cursor) {
      const after = decodeCursor(input.cursor, order.length);
      // Row-value comparison: strictly after (or before, descending) the last row returned.
      where.push(`(${order.join(", ")}) ${input.reverse ? "<" : ">"} (${order.map(() => "?").join(", ")})`);
      params.push(...after);
    }
    const sql = `SELECT ${order.join(", ")}, data FROM items_${this.#name} WHERE ${where.join(" AND ")}
                 ORDER BY ${order.map((c) => `${c} ${dir}`).join(", ")} LIMIT ?`;
    const rows = this.#db.prepare(sql).all(...params, limit + 1) as Record<string, string>[];
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((r) => JSON.parse(r.data!) as Item),
      ...(rows.length > limit && last ? { cursor: encodeCursor(order.map((c) => last[c]!)) } : {}),
    };
  }

  #read(key: Key): Item | undefined {
    const row = this.#sql.get.get(key.pk, key.sk) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as Item) : undefined;
  }

  #write(item: Item): void {
    const clean = JSON.parse(JSON.stringify(item)) as Item;
    const old = this.#stream ? this.#read(clean) : undefined;
    this.#sql.upsert.run(clean.pk, clean.sk, str(clean.gsi1pk), str(clean.gsi1sk), JSON.stringify(clean));
    if (this.#stream) this.#record({ eventName: old ? "MODIFY" : "INSERT", keys: keyOf(clean), oldImage: old, newImage: clean });
  }

  #remove(key: Key): void {
    const old = this.#stream ? this.#read(key) : undefined;
    this.#sql.del.run(key.pk, key.sk);
    if (old) this.#record({ eventName: "REMOVE", keys: keyOf(key), oldImage: old });
  }

  #record(change: Omit<ChangeRecord, "table">): void {
    this.#sql.outbox.run(
      this.#name,
      change.eventName,
      JSON.stringify(change.keys),
      change.oldImage ? JSON.stringify(change.oldImage) : null,
      change.newImage ? JSON.stringify(change.newImage) : null,
      Date.now(),
    );
  }
}

function holds(condition: Condition, current: Item | undefined): boolean {
  if ("notExists" in condition) return current === undefined;
  if ("exists" in condition) return current !== undefined;
  if (!current) return false;
  return Object.entries(condition.equals).every(([k, v]) => JSON.stringify(current[k]) === JSON.stringify(v));
}

function opKey(op: WriteOp): Key {
  if ("put" in op) return keyOf(op.put);
  if ("delete" in op) return op.delete;
  return op.check;
}

const keyOf = (k: Key): Key => ({ pk: k.pk, sk: k.sk });
const keyString = (k: Key) => JSON.stringify([k.pk, k.sk]);
const str = (v: unknown) => (typeof v === "string" ? v : null);

function encodeCursor(values: string[]): string {
  return Buffer.from(JSON.stringify(values)).toString("base64url");
}

function decodeCursor(cursor: string, arity: number): string[] {
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString());
    if (Array.isArray(values) && values.length === arity && values.every((v) => typeof v === "string")) return values;
  } catch {
    // fall through to the error below
  }
  throw new InvalidCursorError();
}

