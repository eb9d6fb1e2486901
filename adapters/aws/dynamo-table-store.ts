import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { forEachLimit } from "../../core/concurrency.ts";
import { ConditionFailedError, InvalidCursorError, TransactionCanceledError, ValidationError } from "../../core/errors.ts";
import type { Condition, Item, Key, Page, QueryInput, TableStore, WriteOp } from "../../core/ports/tables.ts";
import { MAX_TRANSACT_OPS } from "../../core/ports/tables.ts";

/** Same page cap as the port (and the SQLite store). */
const MAX_PAGE = 1000;
/** BatchWriteItem takes at most 25 requests. */
const BATCH_SIZE = 25;
/** BatchWriteItem calls in flight at once per `batchPut` (ingest writes thousands of items per second this way). */
const DEFAULT_BATCH_CONCURRENCY = 8;

export interface DynamoTableStoreOptions {
  /** Attempts per BatchWriteItem chunk before unprocessed items are an error. */
  maxBatchAttempts?: number;
  /** First backoff delay in ms; doubles per attempt, with full jitter. */
  baseBackoffMs?: number;
  /** BatchWriteItem calls in flight at once per `batchPut` (default 8). */
  batchConcurrency?: number;
  /** Injected so tests do not wait. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * TableStore on one DynamoDB table with key schema `pk` (S, hash) / `sk` (S,
 * range) and the GSI `gsi1` on `gsi1pk` / `gsi1sk` (projection ALL). Build the
 * client with `DynamoDBDocumentClient.from(new DynamoDBClient(...),
 * documentClientOptions)` so absent attributes are dropped as the port says.
 */
export class DynamoTableStore implements TableStore {
  readonly #db: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #maxBatchAttempts: number;
  readonly #baseBackoffMs: number;
  readonly #batchConcurrency: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(db: DynamoDBDocumentClient, tableName: string, options: DynamoTableStoreOptions = {}) {
    this.#db = db;
    this.#table = tableName;
    this.#maxBatchAttempts = options.maxBatchAttempts ?? 8;
    this.#baseBackoffMs = options.baseBackoffMs ?? 50;
    this.#batchConcurrency = Math.max(1, options.batchConcurrency ?? DEFAULT_BATCH_CONCURRENCY);
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async get(key: Key): Promise<Item | undefined> {
    // Strongly consistent: use cases read their own writes (as on SQLite).
    const out = await this.#db.send(new GetCommand({ TableName: this.#table, Key: keyOf(key), ConsistentRead: true }));
    return out.Item as Item | undefined;
  }

  async put(item: Item, condition?: Condition): Promise<void> {
    await mapConditionFailure(this.#db.send(new PutCommand({ TableName: this.#table, Item: clean(item), ...conditionInput(condition) })));
  }

  async delete(key: Key, condition?: Condition): Promise<void> {
    await mapConditionFailure(
      this.#db.send(new DeleteCommand({ TableName: this.#table, Key: keyOf(key), ...conditionInput(condition) })),
    );
  }

  async transact(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (ops.length > MAX_TRANSACT_OPS) throw new Error(`transact takes at most ${MAX_TRANSACT_OPS} operations`);
    const keys = new Set(ops.map((op) => JSON.stringify(Object.values(keyOf(opKey(op))))));
    if (keys.size !== ops.length) throw new Error("transact: each key may appear at most once");
    const TransactItems = ops.map((op): NonNullable<TransactWriteCommandInput["TransactItems"]>[number] => {
      const TableName = this.#table;
      if ("put" in op) return { Put: { TableName, Item: clean(op.put), ...conditionInput(op.condition) } };
      if ("delete" in op) return { Delete: { TableName, Key: keyOf(op.delete), ...conditionInput(op.condition) } };
      const check = conditionInput(op.condition);
      return { ConditionCheck: { TableName, Key: keyOf(op.check), ...check, ConditionExpression: check.ConditionExpression! } };
    });
    try {
      await this.#db.send(new TransactWriteCommand({ TransactItems }));
    } catch (error) {
      throw mapTransactionFailure(error);
    }
  }

  async query(input: QueryInput): Promise<Page<Item>> {
    const limit = Math.min(input.limit ?? MAX_PAGE, MAX_PAGE);
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError("limit must be a positive integer");
    if (input.skPrefix !== undefined && input.skBetween) throw new Error("query: give skPrefix or skBetween, not both");
    const onIndex = input.index === "gsi1";
    const [pkAttr, skAttr] = onIndex ? ["gsi1pk", "gsi1sk"] : ["pk", "sk"];
    const names: Record<string, string> = { "#pk": pkAttr };
    const values: Record<string, unknown> = { ":pk": input.pk };
    let keyCondition = "#pk = :pk";
    // An empty prefix matches everything; DynamoDB refuses an empty key value.
    if (input.skPrefix) {
      keyCondition += " AND begins_with(#sk, :prefix)";
      names["#sk"] = skAttr;
      values[":prefix"] = input.skPrefix;
    } else if (input.skBetween) {
      keyCondition += " AND #sk BETWEEN :from AND :to";
      names["#sk"] = skAttr;
      values[":from"] = input.skBetween[0];
      values[":to"] = input.skBetween[1];
    }
    const base: QueryCommandInput = {
      TableName: this.#table,
      KeyConditionExpression: keyCondition,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ScanIndexForward: !input.reverse,
      ...(onIndex ? { IndexName: "gsi1" } : { ConsistentRead: true }),
    };
    const keyAttrs = onIndex ? INDEX_KEY_ATTRS : TABLE_KEY_ATTRS;
    let startKey = input.cursor ? decodeCursor(input.cursor, keyAttrs, pkAttr, input.pk) : undefined;

    // Read one item past the page so a cursor is only returned when more items
    // exist (as on SQLite), and keep reading when DynamoDB stops at its 1 MB cap.
    const items: Item[] = [];
    do {
      const out = await this.#db.send(
        new QueryCommand({ ...base, Limit: limit + 1 - items.length, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
      );
      items.push(...((out.Items ?? []) as Item[]));
      startKey = out.LastEvaluatedKey;
    } while (startKey && items.length <= limit);

    const page = items.slice(0, limit);
    const last = page.at(-1);
    const more = items.length > limit;
    return { items: page, ...(more && last ? { cursor: encodeCursor(pick(last, keyAttrs)) } : {}) };
  }

  async batchPut(items: Item[]): Promise<void> {
    // BatchWriteItem refuses two requests for one key; the last write wins, as on SQLite.
    const byKey = new Map<string, Item>();
    for (const item of items) byKey.set(JSON.stringify([item.pk, item.sk]), clean(item));
    const unique = [...byKey.values()];
    const chunks: Item[][] = [];
    for (let i = 0; i < unique.length; i += BATCH_SIZE) chunks.push(unique.slice(i, i + BATCH_SIZE));
    // One call at a time is ~25 items per round trip; a bounded pool keeps
    // several in flight without flooding the table's capacity.
    await forEachLimit(chunks, this.#batchConcurrency, (chunk) => this.#writeChunk(chunk));
  }

  /** One BatchWriteItem, resending what DynamoDB left unprocessed with exponential backoff. */
  async #writeChunk(chunk: Item[]): Promise<void> {
    let requests = chunk.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 1; ; attempt++) {
      const out = await this.#db.send(new BatchWriteCommand({ RequestItems: { [this.#table]: requests } }));
      const left = out.UnprocessedItems?.[this.#table] ?? [];
      if (left.length === 0) return;
      if (attempt >= this.#maxBatchAttempts) {
        throw new Error(`batchPut: ${left.length} items still unprocessed after ${attempt} attempts`);
      }
      requests = left as typeof requests;
      await this.#sleep(Math.random() * this.#baseBackoffMs * 2 ** (attempt - 1));
    }
  }
}

/** Document client options matching the port: undefined attributes are dropped. */
export const documentClientOptions = {
  marshallOptions: { removeUndefinedValues: true },
  unmarshallOptions: { wrapNumbers: false },
} as const;

const TABLE_KEY_ATTRS = ["pk", "sk"] as const;
const INDEX_KEY_ATTRS = ["pk", "sk", "gsi1pk", "gsi1sk"] as const;

/** ConditionExpression and its names/values for a port condition. */
export function conditionInput(condition: Condition | undefined): {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
} {
  if (!condition) return {};
  if ("notExists" in condition) return { ConditionExpression: "attribute_not_exists(pk)" };
  if ("exists" in condition) return { ConditionExpression: "attribute_exists(pk)" };
  const parts = ["attribute_exists(pk)"];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  Object.entries(condition.equals).forEach(([attr, value], i) => {
    names[`#c${i}`] = attr;
    // JSON drops undefined, so "equals undefined" means the attribute is absent (as on SQLite).
    if (value === undefined) {
      parts.push(`attribute_not_exists(#c${i})`);
    } else {
      values[`:c${i}`] = JSON.parse(JSON.stringify(value));
      parts.push(`#c${i} = :c${i}`);
    }
  });
  return {
    ConditionExpression: parts.join(" AND "),
    ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
    ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
  };
}

async function mapConditionFailure(sent: Promise<unknown>): Promise<void> {
  try {
    await sent;
  } catch (error) {
    if (errorName(error) === "ConditionalCheckFailedException") throw new ConditionFailedError();
    throw error;
  }
}

/**
 * TransactionCanceledException lists one reason per op; those whose code is
 * ConditionalCheckFailed become `failedIndexes`. A cancellation with no failed
 * condition (e.g. TransactionConflict) is transient and rethrown as is.
 */
export function mapTransactionFailure(error: unknown): unknown {
  if (errorName(error) !== "TransactionCanceledException") return error;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  const failed = reasons.flatMap((reason, i) => (reason.Code === "ConditionalCheckFailed" ? [i] : []));
  return failed.length > 0 ? new TransactionCanceledError(failed) : error;
}

const errorName = (error: unknown) => (error instanceof Error ? error.name : undefined);

function opKey(op: WriteOp): Key {
  if ("put" in op) return op.put;
  if ("delete" in op) return op.delete;
  return op.check;
}

const keyOf = (k: Key): Key => ({ pk: k.pk, sk: k.sk });

/** Same normalisation as the SQLite store: what JSON cannot hold is dropped. */
const clean = (item: Item): Item => JSON.parse(JSON.stringify(item)) as Item;

function pick(item: Item, attrs: readonly string[]): Record<string, string> {
  return Object.fromEntries(attrs.map((a) => [a, item[a] as string]));
}

function encodeCursor(key: Record<string, string>): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** The LastEvaluatedKey a cursor holds; refuses one this query could not have issued. */
function decodeCursor(cursor: string, attrs: readonly string[], pkAttr: string, pk: string): Record<string, string> {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString());
  } catch {
    key = undefined;
  }
  const valid =
    typeof key === "object" &&
    key !== null &&
    !Array.isArray(key) &&
    Object.keys(key).length === attrs.length &&
    attrs.every((a) => typeof (key as Record<string, unknown>)[a] === "string") &&
    (key as Record<string, string>)[pkAttr] === pk;
  if (!valid) throw new InvalidCursorError();
  return key as Record<string, string>;
}
