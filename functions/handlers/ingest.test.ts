import { Logger } from "@aws-lambda-powertools/logger";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { CoreDeps } from "../../core/deps.ts";
import { createIngestHandler } from "./ingest.ts";
import { s3Notification, sqsEvent, sqsRecord, testContext } from "./test-events.ts";

// The use case is tested on its own; here only the handler's parsing and batch reporting.
const ingestObject = vi.hoisted(() => vi.fn());
vi.mock("../../core/ingest/ingest-object.ts", () => ({ ingestObject, DEFAULT_LEASE_MS: 180_000 }));

const send = vi.fn();
const deps = { marker: "deps", queue: { send } } as unknown as CoreDeps;
const handler = createIngestHandler(deps, { logger: new Logger({ logLevel: "SILENT" }) });

beforeEach(() => {
  ingestObject.mockReset();
  ingestObject.mockResolvedValue({});
  send.mockReset();
});

describe("ingest handler", () => {
  it("ingests each created object with its decoded key and size", async () => {
    // Prepare
    const event = sqsEvent(
      sqsRecord("m1", s3Notification({ key: "uploads/d1/a+b.jsonl", size: 10 })),
      sqsRecord("m2", s3Notification({ key: "uploads/d1/c.csv", size: 20 }, { key: "uploads/d1/d.txt", size: 30 })),
    );
    // Act
    const result = await handler(event, testContext());
    // Assess
    expect(result).toEqual({ batchItemFailures: [] });
    // Each run must stop a minute before the function's time limit, to hand over.
    const deadline = expect.any(Number);
    expect(ingestObject.mock.calls).toEqual([
      [deps, { key: "uploads/d1/a b.jsonl", size: 10, deadline }],
      [deps, { key: "uploads/d1/c.csv", size: 20, deadline }],
      [deps, { key: "uploads/d1/d.txt", size: 30, deadline }],
    ]);
    const context = testContext();
    const before = Date.now();
    await handler(sqsEvent(sqsRecord("m3", s3Notification({ key: "uploads/d1/e.txt", size: 1 }))), context);
    const last = ingestObject.mock.calls.at(-1)![1] as { deadline: number };
    expect(last.deadline).toBeGreaterThanOrEqual(before + context.getRemainingTimeInMillis() - 60_000 - 1000);
    expect(last.deadline).toBeLessThanOrEqual(Date.now() + context.getRemainingTimeInMillis() - 60_000 + 1000);
    expect(send).not.toHaveBeenCalled();
  });

  it("queues a continuation for a run that paused at a checkpoint, and a deferred retry for one another run holds", async () => {
    ingestObject.mockImplementation(async (_deps, input: { key: string }) => ({ status: input.key.endsWith("big") ? "paused" : "busy", accepted: 1, rejected: 0 }));
    const event = sqsEvent(sqsRecord("m1", s3Notification({ key: "uploads/d1/big", size: 10 })), sqsRecord("m2", s3Notification({ key: "uploads/d1/held", size: 5 })));
    expect(await handler(event, testContext())).toEqual({ batchItemFailures: [] });
    const sent = send.mock.calls.map(([queue, body, options]) => ({ queue, object: (body as { Records: { s3: { object: { key: string; size: number } } }[] }).Records[0]!.s3.object, options }));
    expect(sent).toEqual([
      { queue: "ingest", object: expect.objectContaining({ key: "uploads/d1/big", size: 10 }), options: { delaySeconds: 0 } },
      { queue: "ingest", object: expect.objectContaining({ key: "uploads/d1/held", size: 5 }), options: { delaySeconds: 180 } },
    ]);
  });

  it("reports only the messages that failed, including malformed ones", async () => {
    ingestObject.mockImplementation(async (_deps, input: { key: string }) => {
      if (input.key.endsWith("boom")) throw new Error("store down");
      return {};
    });
    const event = sqsEvent(
      sqsRecord("ok", s3Notification({ key: "uploads/ok", size: 1 })),
      sqsRecord("fails", s3Notification({ key: "uploads/boom", size: 1 })),
      sqsRecord("garbage", "{not json"),
      sqsRecord("test-event", { Service: "Amazon S3", Event: "s3:TestEvent" }),
    );
    const result = await handler(event, testContext());
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: "fails" }, { itemIdentifier: "garbage" }] });
  });

  it("fails the whole invocation when every message failed, so Lambda retries it", async () => {
    ingestObject.mockRejectedValue(new Error("store down"));
    await expect(handler(sqsEvent(sqsRecord("m1", s3Notification({ key: "k", size: 1 }))), testContext())).rejects.toThrow(/All records failed/);
  });

  it("refuses an event that is not an SQS batch", async () => {
    await expect(handler({ Records: [{ nope: true }] } as never, testContext())).rejects.toThrow(/Invalid SQS event/);
    expect(ingestObject).not.toHaveBeenCalled();
  });
});
