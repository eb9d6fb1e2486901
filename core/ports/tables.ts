/**
 * A DynamoDB-shaped item store: items live under a partition key (`pk`) and a
 * sort key (`sk`), an optional secondary index is addressed by the `gsi1pk` /
 * `gsi1sk` attributes, and writes can carry conditions. The local adapter
 * (node:sqlite) and the AWS adapter (DynamoDB) implement the same semantics,
 * so the domain code above this port runs unchanged on both.
 */

/** Attribute values are JSON values; `undefined` attributes are dropped. */
export type Item = { pk: string; sk: string } & Record<string, unknown>;
export type Key = { pk: string; sk: string };

/**
 * `notExists`: the item with the write's key must not exist.
 * `exists`: it must exist.
 * `equals`: it must exist and each named attribute must equal the given value
 * (optimistic concurrency, e.g. `{ equals: { rev: 3 } }`).
 */
export type Condition =
  | { notExists: true }
  | { exists: true }
  | { equals: Record<string, unknown> };

export type WriteOp =
  | { put: Item; condition?: Condition }
  | { delete: Key; condition?: Condition }
  /** Only checks a condition on another item, writes nothing (DynamoDB ConditionCheck). */
  | { check: Key; condition: Condition };

export interface QueryInput {
  /** Partition to read: the item's `pk`, or its `gsi1pk` when `index` is "gsi1". */
  pk: string;
  index?: "gsi1";
  /** Only sort keys starting with this prefix. */
  skPrefix?: string;
  /** Sort keys in this closed range (inclusive); combine with neither nor prefix. */
  skBetween?: [string, string];
  /** At most this many items (default and maximum 1000). */
  limit?: number;
  /** Opaque cursor from a previous page's `cursor`. */
  cursor?: string;
  /** Descending sort-key order. */
  reverse?: boolean;
}

export interface Page<T> {
  items: T[];
  /** Present when more items may follow. */
  cursor?: string;
}

/** Most operations in one `transact` call (DynamoDB's TransactWriteItems limit). */
export const MAX_TRANSACT_OPS = 100;

export interface TableStore {
  get(key: Key): Promise<Item | undefined>;
  /** Throws `ConditionFailedError` when the condition does not hold. */
  put(item: Item, condition?: Condition): Promise<void>;
  delete(key: Key, condition?: Condition): Promise<void>;
  query(input: QueryInput): Promise<Page<Item>>;
  /**
   * All or nothing, at most MAX_TRANSACT_OPS operations, each key at most once.
   * Throws `TransactionCanceledError` (with the index of each failed condition).
   */
  transact(ops: WriteOp[]): Promise<void>;
  /** Unconditional puts, not atomic as a whole; for bulk writes such as ingest. */
  batchPut(items: Item[]): Promise<void>;
}

/**
 * The tables the platform uses. `main` has a change stream (DynamoDB Streams /
 * the local outbox); `contributions` holds the bulk of ingest rows and has none.
 */
export interface Tables {
  main: TableStore;
  contributions: TableStore;
}
