import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_MESSAGE_BYTES, ReceiptHandleError, SqliteQueue } from "./sqlite-queue.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";

function setup(options: ConstructorParameters<typeof SqliteQueue>[1] = {}) {
  const clock = new FakeClock();
  const queue = new SqliteQueue(new DatabaseSync(":memory:"), { clock, ...options });
  return { clock, queue };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("SqliteQueue", () => {
  it("delivers messages in send order with their metadata, JSON-encoding non-strings", async () => {
    const { queue, clock } = setup();
    await queue.send("ingest", { n: 1 });
    clock.advance(5);
    await queue.send("ingest", "plain text");
    await queue.send("webhooks", "other queue");
    const got = await queue.receive("ingest", { maxMessages: 10 });
    expect(got.map((m) => m.body)).toEqual(['{"n":1}', "plain text"]);
    expect(got[0]).toMatchObject({ receiveCount: 1, sentAt: clock.now() - 5 });
    expect(got[0]!.messageId).not.toBe(got[1]!.messageId);
    expect(await queue.receive("ingest")).toEqual([]);
  });

  it("hides a received message for the visibility timeout, then delivers it again", async () => {
    const { queue, clock } = setup({ defaults: { visibilityTimeoutSeconds: 30 } });
    await queue.send("ingest", "m");
    const [first] = await queue.receive("ingest");
    expect(await queue.counts("ingest")).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    clock.advance(29_999);
    expect(await queue.receive("ingest")).toEqual([]);
    clock.advance(1);
    const [second] = await queue.receive("ingest");
    expect(second).toMatchObject({ messageId: first!.messageId, receiveCount: 2, firstReceivedAt: first!.firstReceivedAt });
    expect(await queue.delete("ingest", second!.receiptHandle)).toBe(true);
    expect(await queue.depth("ingest")).toBe(0);
  });

  it("takes a per-receive visibility timeout and changes visibility of an in-flight message", async () => {
    const { queue, clock } = setup();
    await queue.send("ingest", "m");
    const [m] = await queue.receive("ingest", { visibilityTimeoutSeconds: 2 });
    await queue.changeVisibility("ingest", m!.receiptHandle, 60);
    clock.advance(59_000);
    expect(await queue.receive("ingest")).toEqual([]);
    clock.advance(1000);
    const [again] = await queue.receive("ingest");
    await queue.changeVisibility("ingest", again!.receiptHandle, 0);
    expect(await queue.receive("ingest")).toHaveLength(1);
  });

  it("refuses a stale receipt handle once the message was received again", async () => {
    const { queue, clock } = setup({ defaults: { visibilityTimeoutSeconds: 1 } });
    await queue.send("ingest", "m");
    const [first] = await queue.receive("ingest");
    clock.advance(1000);
    const [second] = await queue.receive("ingest");
    expect(second!.receiptHandle).not.toBe(first!.receiptHandle);
    expect(await queue.delete("ingest", first!.receiptHandle)).toBe(false);
    await expect(queue.changeVisibility("ingest", first!.receiptHandle, 5)).rejects.toBeInstanceOf(ReceiptHandleError);
    expect(await queue.depth("ingest")).toBe(1);
    expect(await queue.delete("webhooks", second!.receiptHandle)).toBe(false); // wrong queue
    expect(await queue.delete("ingest", second!.receiptHandle)).toBe(true);
    await expect(queue.changeVisibility("ingest", second!.receiptHandle, 5)).rejects.toBeInstanceOf(ReceiptHandleError);
  });

  it("moves a message received more than maxReceives times to the dead-letter queue", async () => {
    const { queue, clock } = setup({ queues: { ingest: { maxReceives: 2, visibilityTimeoutSeconds: 1 } } });
    await queue.send("ingest", "poison");
    await queue.send("ingest", "good");
    for (let i = 0; i < 2; i++) {
      const got = await queue.receive("ingest", { maxMessages: 1 });
      expect(got[0]).toMatchObject({ body: "poison", receiveCount: i + 1 });
      clock.advance(1000);
    }
    // Third receive: the poison message is redriven and the slot goes to the next one.
    const got = await queue.receive("ingest", { maxMessages: 1 });
    expect(got.map((m) => m.body)).toEqual(["good"]);
    const [dead] = await queue.receive("ingest-dlq", { maxMessages: 10 });
    expect(dead).toMatchObject({ body: "poison", receiveCount: 1 });
    // A DLQ does not redrive further by default.
    for (let i = 0; i < 7; i++) {
      clock.advance(30_000);
      expect(await queue.receive("ingest-dlq")).toHaveLength(1);
    }
  });

  it("delays a message", async () => {
    const { queue, clock } = setup();
    await queue.send("webhooks", "later", { delaySeconds: 10 });
    expect(await queue.counts("webhooks")).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
    clock.advance(9_999);
    expect(await queue.receive("webhooks")).toEqual([]);
    clock.advance(1);
    expect((await queue.receive("webhooks"))[0]?.body).toBe("later");
  });

  it("survives a restart: an in-flight message comes back after its visibility timeout", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mf-queue-"));
    dirs.push(dir);
    const file = join(dir, "platform.db");
    const clock = new FakeClock();
    const open = () => {
      const db = new DatabaseSync(file);
      db.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000");
      return { db, queue: new SqliteQueue(db, { clock, defaults: { visibilityTimeoutSeconds: 30 } }) };
    };
    const before = open();
    await before.queue.send("ingest", "in flight when we die");
    await before.queue.send("ingest", "never received");
    const [held] = await before.queue.receive("ingest");
    before.db.close();

    const after = open();
    expect(await after.queue.depth("ingest")).toBe(2);
    expect((await after.queue.receive("ingest", { maxMessages: 10 })).map((m) => m.body)).toEqual(["never received"]);
    clock.advance(30_000);
    const [back] = await after.queue.receive("ingest", { maxMessages: 10 });
    expect(back).toMatchObject({ messageId: held!.messageId, body: "in flight when we die", receiveCount: 2 });
    after.db.close();
  });

  it("releases in-flight messages for a restarted consumer, keeping their receive counts", async () => {
    const { queue } = setup({ defaults: { visibilityTimeoutSeconds: 1800 } });
    await queue.send("ingest", "held by a dead process");
    await queue.send("ingest", "delayed", { delaySeconds: 60 });
    const [held] = await queue.receive("ingest");
    expect(await queue.receive("ingest")).toEqual([]);

    expect(queue.releaseInFlight("ingest")).toBe(1); // the delayed message is not in flight: untouched
    expect(await queue.delete("ingest", held!.receiptHandle)).toBe(false); // the dead receive's handle is void
    const [again] = await queue.receive("ingest");
    expect(again).toMatchObject({ messageId: held!.messageId, receiveCount: 2 });
  });

  it("sends inside a caller's transaction, which rolls the message back with it", async () => {
    const db = new DatabaseSync(":memory:");
    const queue = new SqliteQueue(db);
    db.exec("BEGIN");
    queue.sendSync("ingest", "rolled back");
    db.exec("ROLLBACK");
    expect(await queue.depth("ingest")).toBe(0);
  });

  it("rejects bad input with clear errors", async () => {
    const { queue } = setup();
    await expect(queue.send("bad name!", "x")).rejects.toThrow(/queue name/);
    await expect(queue.send("ingest", undefined)).rejects.toThrow(/string or a JSON value/);
    await expect(queue.send("ingest", "")).rejects.toThrow(/empty/);
    await expect(queue.send("ingest", "x".repeat(MAX_MESSAGE_BYTES + 1))).rejects.toThrow(/at most/);
    await expect(queue.send("ingest", "x", { delaySeconds: 901 })).rejects.toThrow(/delaySeconds/);
    await expect(queue.receive("ingest", { maxMessages: 0 })).rejects.toThrow(/maxMessages/);
    await expect(queue.receive("ingest", { visibilityTimeoutSeconds: -1 })).rejects.toThrow(/visibility/);
    expect(() => new SqliteQueue(new DatabaseSync(":memory:"), { defaults: { maxReceives: 1.5 } })).toThrow(/maxReceives/);
  });
});
