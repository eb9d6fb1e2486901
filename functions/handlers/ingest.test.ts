import { Logger } from "@aws-lambda-powertools/logger";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { CoreDeps } from "../../core/deps.ts";
import { createIngestHandler } from "./ingest.ts";
import { s3Notification, sqsEvent, sqsRecord, testContext } from "./test-events.ts";

// The use case is tested on its own; here only the handler's parsing and batch reporting.
const ingestObject = vi.hoisted(() => vi.fn());
vi.mock("../../core/ingest/ingest-object.ts", () => ({ ingestObject }));

const deps = { marker: "deps" } as unknown as CoreDeps;
const handler = createIngestHandler(deps, { logger: new Logger({ logLevel: "SILENT" }) });

beforeEach(() => {
  ingestObject.mockReset();
  ingestObject.mockResolvedValue({});
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
    expect(ingestObject.mock.calls).toEqual([
      [deps, { key: "uploads/d1/a b.jsonl", size: 10 }],
      [deps, { key: "uploads/d1/c.csv", size: 20 }],
      [deps, { key: "uploads/d1/d.txt", size: 30 }],
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
