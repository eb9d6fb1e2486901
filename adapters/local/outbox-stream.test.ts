import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { afterEach, describe, expect, it } from "vitest";
import { OutboxStream, type OutboxStreamOptions, type StreamHandler } from "./outbox-stream.ts";
import { SqliteTableStore } from "./sqlite-table-store.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";

function setup(options: OutboxStreamOptions = {}, file = ":memory:") {
  const db = new DatabaseSync(file);
  const main = new SqliteTableStore(db, "main", { stream: true });
  const other = new SqliteTableStore(db, "other", { stream: true });
  const clock = new FakeClock(Date.now());
  const errors: unknown[] = [];
  const stream = new OutboxStream(db, { clock, retryDelayMs: 0, pollIntervalMs: 5, onError: (e) => errors.push(e), ...options });
  return { db, main, other, clock, stream, errors };
}

/** A handler that records what it saw, and the SequenceNumbers of its records. */
function recorder(fail?: (record: DynamoDBRecord) => boolean | "throw"): StreamHandler & { seen: string[] } {
  const seen: string[] = [];
  const handler: StreamHandler = (event: DynamoDBStreamEvent) => {
    const failures: { itemIdentifier: string }[] = [];
    const outcomes = event.Records.map((r) => fail?.(r));
    if (outcomes.includes("throw")) throw new Error("handler crashed");
    for (const [i, r] of event.Records.entries()) {
      const outcome = outcomes[i];
      const key = unmarshall((r.dynamodb!.Keys ?? {}) as never) as { pk: string };
      if (outcome) failures.push({ itemIdentifier: r.dynamodb!.SequenceNumber! });
      else if (failures.length === 0) seen.push(`${r.eventName}:${key.pk}`);
    }
    return { batchItemFailures: failures };
  };
  return Object.assign(handler, { seen });
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("OutboxStream", () => {
  it("delivers changes as DynamoDB stream records with marshalled old and new images", async () => {
    const { main, stream } = setup();
    const events: DynamoDBStreamEvent[] = [];
    stream.subscribe({ name: "router", table: "main", handler: (e) => void events.push(e) });
    await main.put({ pk: "A", sk: "1", n: 1, tags: ["x"], nested: { ok: true, none: null } });
    await main.put({ pk: "A", sk: "1", n: 2, tags: ["x"], nested: { ok: true, none: null } });
    await main.delete({ pk: "A", sk: "1" });
    await stream.idle();
    const records = events.flatMap((e) => e.Records);
    expect(records.map((r) => r.eventName)).toEqual(["INSERT", "MODIFY", "REMOVE"]);
    const modify = records[1]!;
    expect(modify).toMatchObject({
      eventSource: "aws:dynamodb",
      eventSourceARN: expect.stringMatching(/^arn:aws:dynamodb:local:000000000000:table\/main\/stream\//),
      dynamodb: {
        Keys: { pk: { S: "A" }, sk: { S: "1" } },
        SequenceNumber: String(Number(records[0]!.dynamodb!.SequenceNumber) + 1),
        StreamViewType: "NEW_AND_OLD_IMAGES",
      },
    });
    expect(modify.dynamodb!.NewImage!.n).toEqual({ N: "2" });
    expect(unmarshall(modify.dynamodb!.OldImage as never)).toEqual({ pk: "A", sk: "1", n: 1, tags: ["x"], nested: { ok: true, none: null } });
    expect(records[0]!.dynamodb!.OldImage).toBeUndefined();
    expect(records[2]!.dynamodb!.NewImage).toBeUndefined();
  });

  it("keeps a checkpoint per subscriber, so each sees every record of its table once, in order", async () => {
    const { main, other, stream } = setup();
    const a = recorder();
    const b = recorder();
    const c = recorder();
    stream.subscribe({ name: "a", table: "main", handler: a, batchSize: 2 });
    stream.subscribe({ name: "b", table: "main", handler: b });
    stream.subscribe({ name: "c", table: "other", handler: c });
    for (const pk of ["1", "2", "3", "4", "5"]) await main.put({ pk, sk: "x" });
    await other.put({ pk: "o", sk: "x" });
    await stream.idle();
    const expected = ["1", "2", "3", "4", "5"].map((pk) => `INSERT:${pk}`);
    expect(a.seen).toEqual(expected);
    expect(b.seen).toEqual(expected);
    expect(c.seen).toEqual(["INSERT:o"]);
    await stream.pollOnce();
    expect(a.seen).toHaveLength(5);
  });

  it("resumes a restarted subscriber from its stored checkpoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mf-stream-"));
    dirs.push(dir);
    const file = join(dir, "platform.db");
    const first = setup({}, file);
    const h1 = recorder();
    first.stream.subscribe({ name: "router", table: "main", handler: h1 });
    await first.main.put({ pk: "1", sk: "x" });
    await first.stream.idle();
    await first.main.put({ pk: "2", sk: "x" });
    first.db.close();

    const second = setup({}, file);
    const h2 = recorder();
    second.stream.subscribe({ name: "router", table: "main", handler: h2 });
    await second.stream.idle();
    expect(h1.seen).toEqual(["INSERT:1"]);
    expect(h2.seen).toEqual(["INSERT:2"]);
    second.db.close();
  });

  it("resumes from the first failed record on a partial batch failure", async () => {
    const { main, stream } = setup();
    let failOn3 = true;
    const deliveries: string[][] = [];
    stream.subscribe({
      name: "router",
      table: "main",
      handler: (event) => {
        deliveries.push(event.Records.map((r) => r.dynamodb!.Keys!.pk!.S!));
        const bad = event.Records.filter((r) => failOn3 && ["3", "5"].includes(r.dynamodb!.Keys!.pk!.S!));
        return { batchItemFailures: bad.map((r) => ({ itemIdentifier: r.dynamodb!.SequenceNumber! })) };
      },
    });
    for (const pk of ["1", "2", "3", "4", "5"]) await main.put({ pk, sk: "x" });
    await stream.pollOnce();
    expect(stream.checkpoint("router")).toBe(2);
    failOn3 = false;
    await stream.pollOnce();
    expect(deliveries).toEqual([
      ["1", "2", "3", "4", "5"],
      ["3", "4", "5"],
    ]);
    expect(stream.checkpoint("router")).toBe(5);
    expect(stream.failures()).toEqual([]);
  });

  it("sends a batch that keeps failing to stream_failures after maxAttempts and moves on", async () => {
    const { main, stream, errors } = setup();
    const h = recorder((r) => (r.dynamodb!.Keys!.pk!.S === "bad" ? "throw" : false));
    stream.subscribe({ name: "router", table: "main", handler: h, maxAttempts: 3, batchSize: 2 });
    await main.put({ pk: "ok1", sk: "x" });
    await main.put({ pk: "bad", sk: "x" });
    await main.put({ pk: "ok2", sk: "x" });
    await stream.pollOnce(); // ok1 + bad: throws, attempt 1
    await stream.pollOnce(); // attempt 2
    expect(stream.failures()).toEqual([]);
    await stream.pollOnce(); // attempt 3: give up on the batch
    const failures = stream.failures("router");
    expect(failures.map((f) => f.record.dynamodb!.Keys!.pk!.S)).toEqual(["ok1", "bad"]);
    expect(failures[0]).toMatchObject({ subscriber: "router", table: "main", attempts: 3, error: "Error: handler crashed" });
    await stream.idle();
    expect(h.seen).toEqual(["INSERT:ok2"]);
    expect(errors.some((e) => String(e).includes("gave up"))).toBe(true);
  });

  it("counts attempts from the failing record and dead-letters only what was not consumed", async () => {
    const { main, stream } = setup();
    const h = recorder((r) => r.dynamodb!.Keys!.pk!.S === "bad");
    stream.subscribe({ name: "router", table: "main", handler: h, maxAttempts: 2 });
    for (const pk of ["ok1", "bad", "ok2"]) await main.put({ pk, sk: "x" });
    await stream.idle();
    expect(h.seen).toEqual(["INSERT:ok1"]);
    expect(stream.failures().map((f) => [f.record.dynamodb!.Keys!.pk!.S, f.error])).toEqual([
      ["bad", "reported as failed by the handler (batchItemFailures)"],
      ["ok2", "reported as failed by the handler (batchItemFailures)"],
    ]);
  });

  it("treats a failure naming a record outside the batch as a failure of the whole batch", async () => {
    const { main, stream } = setup();
    stream.subscribe({ name: "router", table: "main", handler: () => ({ batchItemFailures: [{ itemIdentifier: "999999" }] }) });
    await main.put({ pk: "1", sk: "x" });
    await stream.pollOnce();
    expect(stream.checkpoint("router")).toBe(0);
  });

  it("waits before retrying a failed batch, longer each time", async () => {
    const { main, stream, clock } = setup({ retryDelayMs: 1000 });
    let calls = 0;
    stream.subscribe({
      name: "router",
      table: "main",
      handler: () => {
        calls++;
        throw new Error("down");
      },
    });
    await main.put({ pk: "1", sk: "x" });
    await stream.pollOnce();
    await stream.pollOnce();
    expect(calls).toBe(1);
    clock.advance(1000);
    await stream.pollOnce();
    expect(calls).toBe(2);
    clock.advance(1999);
    await stream.pollOnce();
    expect(calls).toBe(2);
    clock.advance(1);
    await stream.pollOnce();
    expect(calls).toBe(3);
  });

  it("prunes records older than the retention once every subscriber of their table consumed them", async () => {
    const { db, main, other, stream, clock } = setup();
    const count = () => (db.prepare("SELECT count(*) AS n FROM stream_records").get() as { n: number }).n;
    stream.subscribe({ name: "fast", table: "main", handler: () => {} });
    let slowFails = true;
    stream.subscribe({
      name: "slow",
      table: "main",
      handler: () => {
        if (slowFails) throw new Error("not yet");
      },
      maxAttempts: 1000,
    });
    await main.put({ pk: "1", sk: "x" });
    await other.put({ pk: "no-subscriber", sk: "x" });
    await stream.pollOnce();
    expect(stream.prune()).toBe(0); // nothing is a day old yet
    clock.advance(24 * 3600 * 1000 + 1000); // created_at comes from the real clock
    expect(stream.prune()).toBe(1); // only the record of the table nobody subscribes to
    slowFails = false;
    await stream.idle();
    expect(stream.prune()).toBe(1);
    expect(count()).toBe(0);
  });

  it("runs in the background; stop() waits for the batch in progress", async () => {
    const { main, stream } = setup();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    stream.subscribe({
      name: "router",
      table: "main",
      handler: async (e) => {
        for (const r of e.Records) {
          if (r.dynamodb!.Keys!.pk!.S === "slow") await gate;
          seen.push(r.dynamodb!.Keys!.pk!.S!);
        }
      },
    });
    stream.start();
    await main.put({ pk: "a", sk: "x" });
    await stream.idle({ timeoutMs: 2000 });
    expect(seen).toEqual(["a"]);
    await main.put({ pk: "slow", sk: "x" });
    await new Promise((r) => setTimeout(r, 30));
    let isStopped = false;
    const stopped = stream.stop().then(() => (isStopped = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(isStopped).toBe(false);
    release();
    await stopped;
    expect(seen).toEqual(["a", "slow"]);
  });

  it("rejects bad subscriptions", () => {
    const { stream } = setup();
    stream.subscribe({ name: "x", table: "main", handler: () => {} });
    expect(() => stream.subscribe({ name: "x", table: "main", handler: () => {} })).toThrow(/already/);
    expect(() => stream.subscribe({ name: "bad name", table: "main", handler: () => {} })).toThrow(/Invalid/);
    expect(() => stream.subscribe({ name: "y", table: "main", handler: () => {}, batchSize: 0 })).toThrow(/batchSize/);
  });
});

