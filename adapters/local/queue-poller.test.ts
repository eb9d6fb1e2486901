import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import type { SQSEvent } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { QueuePoller, type SqsHandler } from "./queue-poller.ts";
import { SqliteQueue } from "./sqlite-queue.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";

function setup(handler: SqsHandler, options: { batchSize?: number } = {}) {
  const clock = new FakeClock();
  const queues = new SqliteQueue(new DatabaseSync(":memory:"), {
    clock,
    queues: { ingest: { visibilityTimeoutSeconds: 30, maxReceives: 3 } },
  });
  const errors: unknown[] = [];
  const poller = new QueuePoller({
    queues,
    queue: "ingest",
    handler,
    pollIntervalMs: 5,
    onError: (e) => errors.push(e),
    ...options,
  });
  return { clock, queues, poller, errors };
}

describe("QueuePoller", () => {
  it("invokes the handler with an SQSEvent and deletes what succeeded", async () => {
    const events: SQSEvent[] = [];
    const { queues, poller } = setup((event) => {
      events.push(event);
    });
    await queues.send("ingest", { key: "a" });
    await queues.send("ingest", { key: "b" });
    expect(await poller.pollOnce()).toBe(2);
    expect(await queues.depth("ingest")).toBe(0);
    const record = events[0]!.Records[0]!;
    expect(record).toMatchObject({
      body: '{"key":"a"}',
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:local:000000000000:ingest",
      attributes: { ApproximateReceiveCount: "1" },
      md5OfBody: createHash("md5").update('{"key":"a"}').digest("hex"),
    });
    expect(record.receiptHandle).toBeTruthy();
  });

  it("keeps only the reported failures, which come back after the visibility timeout", async () => {
    const seen: string[][] = [];
    const { queues, poller, clock } = setup((event) => {
      seen.push(event.Records.map((r) => `${r.body}#${r.attributes.ApproximateReceiveCount}`));
      const bad = event.Records.filter((r) => r.body.includes("bad"));
      return { batchItemFailures: bad.map((r) => ({ itemIdentifier: r.messageId })) };
    });
    for (const body of ["ok1", "bad", "ok2"]) await queues.send("ingest", body);
    await poller.pollOnce();
    expect(await queues.counts("ingest")).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    clock.advance(30_000);
    await poller.pollOnce();
    expect(seen).toEqual([["ok1#1", "bad#1", "ok2#1"], ["bad#2"]]);
  });

  it("fails the whole batch when the handler throws or names a message not in the batch", async () => {
    let mode: "throw" | "unknown-id" | "ok" = "throw";
    const { queues, poller, clock, errors } = setup(() => {
      if (mode === "throw") throw new Error("boom");
      if (mode === "unknown-id") return { batchItemFailures: [{ itemIdentifier: "not-in-batch" }] };
    });
    await queues.send("ingest", "1");
    await queues.send("ingest", "2");
    await poller.pollOnce();
    expect(errors).toHaveLength(1);
    expect(await queues.counts("ingest")).toMatchObject({ inFlight: 2 });
    mode = "unknown-id";
    clock.advance(30_000);
    await poller.pollOnce();
    expect(await queues.counts("ingest")).toMatchObject({ inFlight: 2 });
    mode = "ok";
    clock.advance(30_000);
    await poller.pollOnce();
    expect(await queues.depth("ingest")).toBe(0);
  });

  it("sends a message that keeps failing to the dead-letter queue", async () => {
    const { queues, poller, clock } = setup(() => {
      throw new Error("poison");
    });
    await queues.send("ingest", "poison");
    for (let i = 0; i < 4; i++) {
      await poller.pollOnce();
      clock.advance(30_000);
    }
    expect(await queues.depth("ingest")).toBe(0);
    expect(await queues.depth("ingest-dlq")).toBe(1);
  });

  it("respects the batch size", async () => {
    const sizes: number[] = [];
    const { queues, poller } = setup((e) => void sizes.push(e.Records.length), { batchSize: 2 });
    for (let i = 0; i < 5; i++) await queues.send("ingest", String(i));
    await poller.idle();
    expect(sizes).toEqual([2, 2, 1]);
  });

  it("runs in the background; idle() waits for the queue to drain and stop() for the batch in progress", async () => {
    const done: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { queues, poller } = setup(async (event) => {
      if (event.Records.some((r) => r.body === "slow")) await gate;
      for (const r of event.Records) done.push(r.body);
    });
    poller.start();
    poller.start();
    for (const body of ["a", "b", "c"]) await queues.send("ingest", body);
    await poller.idle({ timeoutMs: 2000 });
    expect(done).toEqual(["a", "b", "c"]);

    await queues.send("ingest", "slow");
    await vi.waitFor(() => expect(queues.counts("ingest")).resolves.toMatchObject({ inFlight: 1 }), { timeout: 2000, interval: 5 });
    const stopped = poller.stop();
    let isStopped = false;
    void stopped.then(() => (isStopped = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(isStopped).toBe(false);
    release();
    await stopped;
    expect(done).toEqual(["a", "b", "c", "slow"]);
    expect(await queues.depth("ingest")).toBe(0);
  });

  it("idle() gives up with the queue's state when a message cannot be delivered", async () => {
    const { queues, poller } = setup(() => {
      throw new Error("no");
    });
    await queues.send("ingest", "stuck");
    await expect(poller.idle({ timeoutMs: 60 })).rejects.toThrow(/not drained.*"inFlight":1/);
  });

  it("rejects a bad batch size", () => {
    expect(() => setup(() => {}, { batchSize: 0 })).toThrow(/batchSize/);
  });
});
