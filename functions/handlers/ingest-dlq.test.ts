import { Logger } from "@aws-lambda-powertools/logger";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { CoreDeps } from "../../core/deps.ts";
import { createIngestDlqHandler, DEAD_LETTER_REASON } from "./ingest-dlq.ts";
import { s3Notification, sqsEvent, sqsRecord, testContext } from "./test-events.ts";

// The use case is tested on its own; here only the handler's parsing and batch reporting.
const markUploadDeadLettered = vi.hoisted(() => vi.fn());
vi.mock("../../core/ingest/mark-upload-dead-lettered.ts", () => ({ markUploadDeadLettered }));

const deps = { marker: "deps" } as unknown as CoreDeps;
const handler = createIngestDlqHandler(deps, { logger: new Logger({ logLevel: "SILENT" }) });

beforeEach(() => {
  markUploadDeadLettered.mockReset();
  markUploadDeadLettered.mockResolvedValue({ status: "failed" });
});

describe("ingest dead-letter handler", () => {
  it("marks each object of each dead-lettered notification, with decoded keys", async () => {
    // Prepare
    const event = sqsEvent(
      sqsRecord("m1", s3Notification({ key: "uploads/dn_1/up+1", size: 10 })),
      sqsRecord("m2", s3Notification({ key: "uploads/dn_1/up_2", size: 20 }, { key: "uploads/dn_2/up_3", size: 30 })),
    );
    // Act
    const result = await handler(event, testContext());
    // Assess
    expect(result).toEqual({ batchItemFailures: [] });
    expect(markUploadDeadLettered.mock.calls).toEqual([
      [deps, { key: "uploads/dn_1/up 1", reason: DEAD_LETTER_REASON }],
      [deps, { key: "uploads/dn_1/up_2", reason: DEAD_LETTER_REASON }],
      [deps, { key: "uploads/dn_2/up_3", reason: DEAD_LETTER_REASON }],
    ]);
  });

  it("retries only the messages whose marking failed, and drops bodies that name no upload", async () => {
    markUploadDeadLettered.mockImplementation(async (_deps, input: { key: string }) => {
      if (input.key.endsWith("boom")) throw new Error("table down");
      return { status: "failed" };
    });
    const event = sqsEvent(
      sqsRecord("ok", s3Notification({ key: "uploads/d/ok", size: 1 })),
      sqsRecord("fails", s3Notification({ key: "uploads/d/boom", size: 1 })),
      sqsRecord("garbage", "{not json"),
    );
    expect(await handler(event, testContext())).toEqual({ batchItemFailures: [{ itemIdentifier: "fails" }] });
  });

  it("refuses an event that is not an SQS batch", async () => {
    await expect(handler({ Records: [{ nope: true }] } as never, testContext())).rejects.toThrow(/Invalid SQS event/);
    expect(markUploadDeadLettered).not.toHaveBeenCalled();
  });
});
