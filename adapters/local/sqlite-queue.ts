import { randomBytes } from "node:crypto";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Clock } from "../../core/ports/clock.ts";
import { systemClock } from "../../core/ports/clock.ts";
import type { QueueSender } from "../../core/ports/queue.ts";
import { newId } from "../../core/ids.ts";
import { inTransaction } from "./sqlite-transaction.ts";

/** Settings of one queue; unset fields take the store's defaults. */
export interface QueueSettings {
  /** How long a received message stays hidden before it is delivered again (SQS VisibilityTimeout). */
  visibilityTimeoutSeconds: number;
  /**
   * Receives allowed before the message moves to `<name>-dlq` instead of being
   * delivered (SQS redrive policy maxReceiveCount). 0 turns redrive off.
   */
  maxReceives: number;
}

export interface SqliteQueueOptions {
  clock?: Clock;
  /** Defaults for every queue: visibility 30 s, 5 receives (dead-letter queues never redrive). */
  defaults?: Partial<QueueSettings>;
  /** Per-queue overrides, by queue name. */
  queues?: Record<string, Partial<QueueSettings>>;
}

export interface ReceivedMessage {
  messageId: string;
  /** Valid for this receive only: a later receive of the same message issues a new one. */
  receiptHandle: string;
  body: string;
  /** How many times the message has been received, this time included. */
  receiveCount: number;
  /** Epoch milliseconds of the send. */
  sentAt: number;
  /** Epoch milliseconds of the first receive. */
  firstReceivedAt: number;
}

export interface ReceiveOptions {
  /** At most this many messages (default 1, at most 1000). */
  maxMessages?: number;
  /** Overrides the queue's visibility timeout for this receive. */
  visibilityTimeoutSeconds?: number;
}

/** Messages of a queue by state (SQS ApproximateNumberOfMessages*). */
export interface QueueCounts {
  visible: number;
  inFlight: number;
  delayed: number;
}

/** SQS's classic message size limit; keeps what works locally working on AWS. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/** SQS's longest send delay. */
export const MAX_DELAY_SECONDS = 900;
/** SQS's longest visibility timeout (12 h). */
export const MAX_VISIBILITY_SECONDS = 12 * 3600;
const MAX_RECEIVE_BATCH = 1000;
const DEFAULTS: QueueSettings = { visibilityTimeoutSeconds: 30, maxReceives: 5 };

/** A receipt handle that does not belong to a message currently held by its receiver. */
export class ReceiptHandleError extends Error {
  constructor(queue: string) {
    super(`Receipt handle is not valid for an in-flight message of queue ${queue} (deleted, or received again since)`);
    this.name = "ReceiptHandleError";
  }
}

/**
 * Durable at-least-once queues on node:sqlite with SQS semantics: delay,
 * visibility timeout, per-receive receipt handles and redrive to `<name>-dlq`
 * after `maxReceives`. All state lives in the database, so a message in flight
 * when the process dies comes back once its visibility timeout lapses.
 *
 * Bodies are strings; `send` JSON-encodes anything that is not a string.
 */
export class SqliteQueue implements QueueSender {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #defaults: QueueSettings;
  readonly #queues: Record<string, Partial<QueueSettings>>;
  readonly #sql: Record<
    "insert" | "visible" | "claim" | "redrive" | "delete" | "changeVisibility" | "counts",
    StatementSync
  >;

  constructor(db: DatabaseSync, options: SqliteQueueOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#defaults = { ...DEFAULTS, ...options.defaults };
    this.#queues = { ...options.queues };
    for (const settings of [this.#defaults, ...Object.values(this.#queues)]) checkSettings(settings);
    // seq keeps send order among visible messages (SQS standard queues only try; we do).
    db.exec(`
      CREATE TABLE IF NOT EXISTS queue_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        queue TEXT NOT NULL,
        body TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        first_received_at INTEGER,
        receipt_handle TEXT UNIQUE,
        in_flight INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_at, seq);
    `);
    this.#sql = {
      insert: db.prepare(
        `INSERT INTO queue_messages (message_id, queue, body, sent_at, visible_at) VALUES (?, ?, ?, ?, ?)`,
      ),
      visible: db.prepare(
        `SELECT seq, message_id, body, sent_at, receive_count, first_received_at FROM queue_messages
         WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT ?`,
      ),
      claim: db.prepare(
        `UPDATE queue_messages SET receive_count = receive_count + 1, receipt_handle = ?, visible_at = ?,
           first_received_at = coalesce(first_received_at, ?), in_flight = 1 WHERE seq = ?`,
      ),
      // SQS keeps the message id in the DLQ and counts receives there afresh.
      redrive: db.prepare(
        `UPDATE queue_messages SET queue = ?, visible_at = ?, receive_count = 0, first_received_at = NULL,
           receipt_handle = NULL, in_flight = 0 WHERE seq = ?`,
      ),
      delete: db.prepare(`DELETE FROM queue_messages WHERE queue = ? AND receipt_handle = ?`),
      changeVisibility: db.prepare(
        `UPDATE queue_messages SET visible_at = ? WHERE queue = ? AND receipt_handle = ? AND visible_at > ?`,
      ),
      counts: db.prepare(
        `SELECT
           coalesce(sum(visible_at <= ?1), 0) AS visible,
           coalesce(sum(visible_at > ?1 AND in_flight = 1), 0) AS in_flight,
           coalesce(sum(visible_at > ?1 AND in_flight = 0), 0) AS delayed
         FROM queue_messages WHERE queue = ?2`,
      ),
    };
  }

  /** The effective settings of a queue. */
  settings(queue: string): QueueSettings {
    const own = this.#queues[queue];
    const settings = { ...this.#defaults, ...own };
    // A dead-letter queue keeps what it gets unless configured otherwise.
    if (isDeadLetterQueue(queue) && own?.maxReceives === undefined) settings.maxReceives = 0;
    return settings;
  }

  /** Sends one message; it becomes receivable after `delaySeconds` (0..900). */
  async send(queue: string, body: unknown, options: { delaySeconds?: number } = {}): Promise<void> {
    this.sendSync(queue, body, options);
  }

  /** `send` without the promise, returning the new message id (usable inside a caller's transaction). */
  sendSync(queue: string, body: unknown, options: { delaySeconds?: number } = {}): string {
    checkQueueName(queue);
    const text = encodeBody(body);
    const delay = options.delaySeconds ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_SECONDS) {
      throw new RangeError(`delaySeconds must be an integer from 0 to ${MAX_DELAY_SECONDS}, got ${delay}`);
    }
    const now = this.#clock.now();
    const messageId = newId("msg", now);
    this.#sql.insert.run(messageId, queue, text, now, now + delay * 1000);
    return messageId;
  }

  /**
   * Receives up to `maxMessages` visible messages and hides them for the
   * visibility timeout. A message already received `maxReceives` times moves
   * to the dead-letter queue instead of being returned.
   */
  async receive(queue: string, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    checkQueueName(queue);
    const max = options.maxMessages ?? 1;
    if (!Number.isInteger(max) || max < 1 || max > MAX_RECEIVE_BATCH) {
      throw new RangeError(`maxMessages must be an integer from 1 to ${MAX_RECEIVE_BATCH}, got ${max}`);
    }
    const settings = this.settings(queue);
    const visibility = options.visibilityTimeoutSeconds ?? settings.visibilityTimeoutSeconds;
    checkVisibility(visibility);
    const now = this.#clock.now();
    return inTransaction(this.#db, () => {
      const received: ReceivedMessage[] = [];
      // Redriven messages free their slots, so look again until the batch is full or nothing is left.
      for (;;) {
        const rows = this.#sql.visible.all(queue, now, max - received.length) as unknown as MessageRow[];
        for (const row of rows) {
          if (settings.maxReceives > 0 && row.receive_count >= settings.maxReceives) {
            this.#sql.redrive.run(deadLetterQueueOf(queue), now, row.seq);
            continue;
          }
          const receiptHandle = `${row.message_id}.${randomBytes(12).toString("base64url")}`;
          this.#sql.claim.run(receiptHandle, now + visibility * 1000, now, row.seq);
          received.push({
            messageId: row.message_id,
            receiptHandle,
            body: row.body,
            receiveCount: row.receive_count + 1,
            sentAt: row.sent_at,
            firstReceivedAt: row.first_received_at ?? now,
          });
        }
        if (received.length === max || rows.length === 0) return received;
      }
    });
  }

  /**
   * Deletes the message this receipt handle was issued for. Returns false when
   * the handle is stale (the message was deleted or received again since),
   * which SQS also treats as no error.
   */
  async delete(queue: string, receiptHandle: string): Promise<boolean> {
    return Number(this.#sql.delete.run(queue, receiptHandle).changes) === 1;
  }

  /**
   * Makes an in-flight message visible again after `seconds` from now (0: at
   * once). Throws ReceiptHandleError when the handle is stale or the message is
   * no longer in flight.
   */
  async changeVisibility(queue: string, receiptHandle: string, seconds: number): Promise<void> {
    checkVisibility(seconds);
    const now = this.#clock.now();
    const changed = this.#sql.changeVisibility.run(now + seconds * 1000, queue, receiptHandle, now).changes;
    if (Number(changed) !== 1) throw new ReceiptHandleError(queue);
  }

  /** Messages not yet deleted: visible, in flight and delayed together. */
  async depth(queue: string): Promise<number> {
    const c = await this.counts(queue);
    return c.visible + c.inFlight + c.delayed;
  }

  /**
   * Makes every in-flight message of a queue visible now, invalidating its
   * receipt handle: for a consumer restarting after a crash, whose receives
   * cannot be finishing anywhere else (the local runtime is the only
   * consumer of its database). Receive counts are kept, so redrive still
   * applies. Returns how many messages it released.
   */
  releaseInFlight(queue: string): number {
    const now = this.#clock.now();
    const result = this.#db
      .prepare(`UPDATE queue_messages SET visible_at = ?, receipt_handle = NULL, in_flight = 0 WHERE queue = ? AND in_flight = 1 AND visible_at > ?`)
      .run(now, queue, now);
    return Number(result.changes);
  }

  /** Messages of a queue by state. */
  async counts(queue: string): Promise<QueueCounts> {
    const row = this.#sql.counts.get(this.#clock.now(), queue) as { visible: number; in_flight: number; delayed: number };
    return { visible: row.visible, inFlight: row.in_flight, delayed: row.delayed };
  }
}

interface MessageRow {
  seq: number;
  message_id: string;
  body: string;
  sent_at: number;
  receive_count: number;
  first_received_at: number | null;
}

/** The dead-letter queue of a queue. */
export const deadLetterQueueOf = (queue: string) => `${queue}-dlq`;
const isDeadLetterQueue = (queue: string) => queue.endsWith("-dlq");

function encodeBody(body: unknown): string {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  if (text === undefined) throw new TypeError("A message body must be a string or a JSON value");
  if (text.length === 0) throw new TypeError("A message body must not be empty");
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_MESSAGE_BYTES) throw new RangeError(`A message body is at most ${MAX_MESSAGE_BYTES} bytes, got ${bytes}`);
  return text;
}

function checkQueueName(queue: string): void {
  // SQS's rule: 1-80 characters of alphanumerics, hyphens and underscores.
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(queue)) throw new TypeError(`Invalid queue name ${JSON.stringify(queue)}`);
}

function checkVisibility(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_VISIBILITY_SECONDS) {
    throw new RangeError(`A visibility timeout is an integer from 0 to ${MAX_VISIBILITY_SECONDS} seconds, got ${seconds}`);
  }
}

function checkSettings(settings: Partial<QueueSettings>): void {
  if (settings.visibilityTimeoutSeconds !== undefined) checkVisibility(settings.visibilityTimeoutSeconds);
  const m = settings.maxReceives;
  if (m !== undefined && (!Number.isInteger(m) || m < 0)) throw new RangeError(`maxReceives must be a non-negative integer, got ${m}`);
}
