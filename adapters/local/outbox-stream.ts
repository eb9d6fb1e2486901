import type { DatabaseSync, StatementSync } from "node:sqlite";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { AttributeValue, Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import type { Clock } from "../../core/ports/clock.ts";
import { systemClock } from "../../core/ports/clock.ts";
import { localLambdaContext } from "./lambda-context.ts";
import { PollLoop } from "./poll-loop.ts";
import { inTransaction } from "./sqlite-transaction.ts";

/** A Lambda DynamoDB-stream handler: returns the failed items (ReportBatchItemFailures) or nothing. */
export type StreamHandler = (
  event: DynamoDBStreamEvent,
  context: Context,
) => Promise<DynamoDBBatchResponse | void> | DynamoDBBatchResponse | void;

export interface StreamSubscription {
  /** Stable, unique name; the subscriber's checkpoint is kept under it across restarts. */
  name: string;
  /** The table whose changes it receives (the logical name given to SqliteTableStore). */
  table: string;
  handler: StreamHandler;
  /** Records per invocation (Lambda's BatchSize; default 100). */
  batchSize?: number;
  /** Invocations of one batch before it goes to `stream_failures` (default 5). */
  maxAttempts?: number;
}

export interface OutboxStreamOptions {
  clock?: Clock;
  /** Pause when nothing is waiting, in milliseconds (default 200). */
  pollIntervalMs?: number;
  /** First retry delay of a failed batch; doubles each attempt up to 30 s (default 500 ms). */
  retryDelayMs?: number;
  /** Records older than this and consumed by every subscriber are pruned (default 24 h, as DynamoDB Streams). */
  retentionMs?: number;
  /** Where handler and poll errors go (default console.error); the stream keeps going. */
  onError?: (error: unknown) => void;
}

/** A record the stream gave up on, as kept in `stream_failures` (Lambda's on-failure destination). */
export interface StreamFailure {
  subscriber: string;
  table: string;
  seq: number;
  /** The DynamoDB stream record that was delivered. */
  record: DynamoDBRecord;
  /** The thrown error, or that the handler reported the item as failed. */
  error: string;
  attempts: number;
  failedAt: number;
}

export interface WaitOptions {
  /** Give up after this many milliseconds (default 30 000). */
  timeoutMs?: number;
}

const DAY_MS = 24 * 3600 * 1000;
const MAX_RETRY_DELAY_MS = 30_000;
const PRUNE_EVERY_MS = 60_000;

interface Subscriber extends Required<StreamSubscription> {
  sql: StatementSync;
}

interface OutboxRow {
  seq: number;
  table_name: string;
  event_name: "INSERT" | "MODIFY" | "REMOVE";
  keys: string;
  old_image: string | null;
  new_image: string | null;
  created_at: number;
}

interface Checkpoint {
  last_seq: number;
  failed_from: number | null;
  attempts: number;
  retry_at: number;
}

/**
 * Dispatches the `stream_records` outbox (written by SqliteTableStore in the
 * same transaction as each change) to subscribers as DynamoDB stream events,
 * with Lambda's event-source-mapping semantics: each subscriber has its own
 * durable checkpoint and sees every record of its table at least once, in
 * order; a handler that throws fails the batch, one that returns
 * `batchItemFailures` resumes from the lowest failed SequenceNumber; after
 * `maxAttempts` the batch's unprocessed records go to `stream_failures` and
 * the checkpoint moves past them.
 */
export class OutboxStream extends PollLoop {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #retryDelayMs: number;
  readonly #retentionMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #subscribers = new Map<string, Subscriber>();
  readonly #sql: Record<"checkpoint" | "initCheckpoint" | "saveCheckpoint" | "failure" | "maxSeq", StatementSync>;
  #lastPrune = -Infinity;

  constructor(db: DatabaseSync, options: OutboxStreamOptions = {}) {
    const onError = options.onError ?? ((error: unknown) => console.error("[outbox-stream]", error));
    super(options.pollIntervalMs ?? 200, onError);
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#retryDelayMs = options.retryDelayMs ?? 500;
    this.#retentionMs = options.retentionMs ?? DAY_MS;
    this.#onError = onError;
    // stream_records has the same definition as in SqliteTableStore, so either may create it.
    db.exec(`
      CREATE TABLE IF NOT EXISTS stream_records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, event_name TEXT NOT NULL,
        keys TEXT NOT NULL, old_image TEXT, new_image TEXT, created_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS stream_records_table ON stream_records (table_name, seq);
      CREATE TABLE IF NOT EXISTS stream_checkpoints (
        subscriber TEXT PRIMARY KEY, table_name TEXT NOT NULL, last_seq INTEGER NOT NULL,
        failed_from INTEGER, attempts INTEGER NOT NULL DEFAULT 0, retry_at INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS stream_failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT, subscriber TEXT NOT NULL, table_name TEXT NOT NULL,
        seq INTEGER NOT NULL, record TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL,
        failed_at INTEGER NOT NULL);
    `);
    this.#sql = {
      checkpoint: db.prepare(`SELECT last_seq, failed_from, attempts, retry_at FROM stream_checkpoints WHERE subscriber = ?`),
      // A new subscriber starts at the oldest retained record (TRIM_HORIZON).
      initCheckpoint: db.prepare(
        `INSERT INTO stream_checkpoints (subscriber, table_name, last_seq, updated_at) VALUES (?, ?, 0, ?)
         ON CONFLICT (subscriber) DO UPDATE SET table_name = excluded.table_name`,
      ),
      saveCheckpoint: db.prepare(
        `UPDATE stream_checkpoints SET last_seq = ?, failed_from = ?, attempts = ?, retry_at = ?, updated_at = ?
         WHERE subscriber = ?`,
      ),
      failure: db.prepare(
        `INSERT INTO stream_failures (subscriber, table_name, seq, record, error, attempts, failed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      maxSeq: db.prepare(`SELECT coalesce(max(seq), 0) AS seq FROM stream_records WHERE table_name = ?`),
    };
  }

  /** Adds a subscriber; it resumes from its stored checkpoint, or from the oldest retained record. */
  subscribe(subscription: StreamSubscription): void {
    const { name, table } = subscription;
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw new TypeError(`Invalid subscriber name ${JSON.stringify(name)}`);
    if (this.#subscribers.has(name)) throw new Error(`Subscriber ${name} is already subscribed`);
    const batchSize = subscription.batchSize ?? 100;
    const maxAttempts = subscription.maxAttempts ?? 5;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new RangeError(`batchSize must be an integer from 1 to 10000, got ${batchSize}`);
    }
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a positive integer, got ${maxAttempts}`);
    this.#sql.initCheckpoint.run(name, table, this.#clock.now());
    this.#subscribers.set(name, {
      name,
      table,
      handler: subscription.handler,
      batchSize,
      maxAttempts,
      sql: this.#db.prepare(
        `SELECT seq, table_name, event_name, keys, old_image, new_image, created_at FROM stream_records
         WHERE table_name = ? AND seq > ? ORDER BY seq LIMIT ${batchSize}`,
      ),
    });
  }

  /**
   * Resolves when every subscriber has consumed (or given up on) every record
   * of its table and no batch is in progress. When not started it dispatches
   * by itself. Rejects after `timeoutMs`.
   */
  idle(options: WaitOptions = {}): Promise<void> {
    // Kept from the last check, so the error names who was behind then.
    let behind: string[] = [];
    return this.waitUntilCaughtUp({
      timeoutMs: options.timeoutMs,
      recheckMs: 20,
      caughtUp: () => (behind = this.#lagging()).length === 0,
      timeoutError: () => new Error(`Stream subscribers not caught up in time: ${behind.join(", ")}`),
    });
  }

  /** Checkpoint of a subscriber: the last SequenceNumber it has consumed (0 before any). */
  checkpoint(subscriber: string): number {
    return (this.#sql.checkpoint.get(subscriber) as Checkpoint | undefined)?.last_seq ?? 0;
  }

  /** Records given up on, oldest first, optionally of one subscriber. */
  failures(subscriber?: string): StreamFailure[] {
    const rows = (
      subscriber === undefined
        ? this.#db.prepare(`SELECT * FROM stream_failures ORDER BY id`).all()
        : this.#db.prepare(`SELECT * FROM stream_failures WHERE subscriber = ? ORDER BY id`).all(subscriber)
    ) as unknown as { subscriber: string; table_name: string; seq: number; record: string; error: string; attempts: number; failed_at: number }[];
    return rows.map((r) => ({
      subscriber: r.subscriber,
      table: r.table_name,
      seq: r.seq,
      record: JSON.parse(r.record) as DynamoDBRecord,
      error: r.error,
      attempts: r.attempts,
      failedAt: r.failed_at,
    }));
  }

  /**
   * Deletes records older than the retention that every current subscriber of
   * their table has consumed; returns how many went.
   */
  prune(): number {
    const cutoff = this.#clock.now() - this.#retentionMs;
    const tables = this.#db
      .prepare(`SELECT DISTINCT table_name FROM stream_records WHERE created_at < ?`)
      .all(cutoff) as { table_name: string }[];
    let pruned = 0;
    for (const { table_name: table } of tables) {
      const consumed = [...this.#subscribers.values()]
        .filter((s) => s.table === table)
        .map((s) => this.checkpoint(s.name));
      const upTo = consumed.length > 0 ? Math.min(...consumed) : Number.MAX_SAFE_INTEGER;
      const result = this.#db
        .prepare(`DELETE FROM stream_records WHERE table_name = ? AND created_at < ? AND seq <= ?`)
        .run(table, cutoff, upTo);
      pruned += Number(result.changes);
    }
    this.#lastPrune = this.#clock.now();
    return pruned;
  }

  #lagging(): string[] {
    return [...this.#subscribers.values()]
      .filter((s) => this.checkpoint(s.name) < (this.#sql.maxSeq.get(s.table) as { seq: number }).seq)
      .map((s) => s.name);
  }

  protected override async poll(): Promise<number> {
    let delivered = 0;
    for (const subscriber of this.#subscribers.values()) delivered += await this.#deliver(subscriber);
    if (this.#clock.now() - this.#lastPrune >= PRUNE_EVERY_MS) this.prune();
    return delivered;
  }

  /** Runs one batch for a subscriber and moves its checkpoint; returns the records it consumed. */
  async #deliver(subscriber: Subscriber): Promise<number> {
    const now = this.#clock.now();
    const cp = this.#sql.checkpoint.get(subscriber.name) as unknown as Checkpoint;
    if (now < cp.retry_at) return 0;
    const rows = subscriber.sql.all(subscriber.table, cp.last_seq) as unknown as OutboxRow[];
    if (rows.length === 0) return 0;

    const records = rows.map(streamRecord);
    let failedFrom: number | undefined;
    let reason = "reported as failed by the handler (batchItemFailures)";
    try {
      const response = await subscriber.handler({ Records: records }, localLambdaContext(subscriber.name));
      failedFrom = firstFailure(response, rows);
    } catch (error) {
      this.#onError(error);
      failedFrom = rows[0]!.seq;
      reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }

    const done = this.#clock.now();
    if (failedFrom === undefined) {
      this.#sql.saveCheckpoint.run(rows.at(-1)!.seq, null, 0, 0, done, subscriber.name);
      return rows.length;
    }
    // Records before the first failure are consumed; count attempts per failing start.
    const consumed = rows.filter((r) => r.seq < failedFrom);
    const lastGood = consumed.at(-1)?.seq ?? cp.last_seq;
    const attempts = cp.failed_from === failedFrom ? cp.attempts + 1 : 1;
    if (attempts < subscriber.maxAttempts) {
      const delay = Math.min(this.#retryDelayMs * 2 ** (attempts - 1), MAX_RETRY_DELAY_MS);
      this.#sql.saveCheckpoint.run(lastGood, failedFrom, attempts, done + delay, done, subscriber.name);
      return consumed.length;
    }
    // Give up: the rest of the batch goes to the on-failure destination and the stream moves on.
    inTransaction(this.#db, () => {
      rows.forEach((row, i) => {
        if (row.seq < failedFrom) return;
        this.#sql.failure.run(subscriber.name, subscriber.table, row.seq, JSON.stringify(records[i]), reason, attempts, done);
      });
      this.#sql.saveCheckpoint.run(rows.at(-1)!.seq, null, 0, 0, done, subscriber.name);
    });
    this.#onError(new Error(`Subscriber ${subscriber.name} gave up on records ${failedFrom}..${rows.at(-1)!.seq} after ${attempts} attempts`));
    return rows.length;
  }
}

/**
 * The lowest SequenceNumber the handler reported as failed, or undefined when
 * all succeeded. An identifier that is missing or not in the batch fails the
 * whole batch, as on Lambda.
 */
function firstFailure(response: DynamoDBBatchResponse | void, rows: OutboxRow[]): number | undefined {
  const failures = response?.batchItemFailures ?? [];
  if (!Array.isArray(failures)) return rows[0]!.seq;
  const inBatch = new Set(rows.map((r) => String(r.seq)));
  let first: number | undefined;
  for (const f of failures) {
    const id: unknown = f?.itemIdentifier;
    if (typeof id !== "string" || !inBatch.has(id)) return rows[0]!.seq;
    first = Math.min(first ?? Infinity, Number(id));
  }
  return first;
}

/** The DynamoDB stream record for an outbox row (NEW_AND_OLD_IMAGES). */
export function streamRecord(row: OutboxRow): DynamoDBRecord {
  const keys = JSON.parse(row.keys) as Record<string, unknown>;
  const oldImage = row.old_image ? (JSON.parse(row.old_image) as Record<string, unknown>) : undefined;
  const newImage = row.new_image ? (JSON.parse(row.new_image) as Record<string, unknown>) : undefined;
  return {
    eventID: `${row.table_name}-${row.seq}`,
    eventName: row.event_name,
    eventVersion: "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: "local",
    dynamodb: {
      ApproximateCreationDateTime: Math.floor(row.created_at / 1000),
      Keys: toAttributes(keys),
      ...(newImage ? { NewImage: toAttributes(newImage) } : {}),
      ...(oldImage ? { OldImage: toAttributes(oldImage) } : {}),
      SequenceNumber: String(row.seq),
      SizeBytes: Buffer.byteLength(row.keys) + Buffer.byteLength(row.old_image ?? "") + Buffer.byteLength(row.new_image ?? ""),
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
    eventSourceARN: streamArn(row.table_name),
  };
}

/** The stream ARN the local runtime reports for a table. */
export const streamArn = (table: string) => `arn:aws:dynamodb:local:000000000000:table/${table}/stream/1970-01-01T00:00:00.000`;

// util-dynamodb's AttributeValue and aws-lambda's describe the same JSON; only the declarations differ.
const toAttributes = (item: Record<string, unknown>) =>
  marshall(item, { removeUndefinedValues: true }) as unknown as Record<string, AttributeValue>;
