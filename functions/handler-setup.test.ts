import { Logger } from "@aws-lambda-powertools/logger";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { lambdaHandler, sqsBatchHandler, streamBatchHandler } from "./handler-setup.ts";
import { sqsEvent, sqsRecord, streamEvent, streamRecord, testContext } from "./handlers/test-events.ts";
import { DEFAULT_SERVICE_NAME, serviceName } from "./logger.ts";
import { InvalidEventError } from "./middleware/parse-event.ts";

const logger = new Logger({ logLevel: "SILENT" });

describe("sqsBatchHandler", () => {
  it("reports only the messages whose processing threw", async () => {
    // Prepare
    const seen: string[] = [];
    const handler = sqsBatchHandler(async (record) => {
      seen.push(record.messageId);
      if (record.body === "bad") throw new Error("boom");
    }, { logger });
    // Act
    const result = await handler(sqsEvent(sqsRecord("m1", "ok"), sqsRecord("m2", "bad"), sqsRecord("m3", "ok")), testContext());
    // Assess
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: "m2" }] });
    expect(seen.sort()).toEqual(["m1", "m2", "m3"]);
  });

  it("in order: each message starts after the one before it ended", async () => {
    const log: string[] = [];
    const handler = sqsBatchHandler(async (record) => {
      log.push(`start ${record.messageId}`);
      await new Promise((resolve) => setTimeout(resolve, record.messageId === "m1" ? 20 : 0));
      log.push(`end ${record.messageId}`);
    }, { logger, inOrder: true });
    await handler(sqsEvent(sqsRecord("m1", "a"), sqsRecord("m2", "b")), testContext());
    expect(log).toEqual(["start m1", "end m1", "start m2", "end m2"]);
  });

  it("fails the whole invocation on an event that is no SQS batch, before any record runs", async () => {
    let calls = 0;
    const handler = sqsBatchHandler(async () => void calls++, { logger });
    await expect(handler({ Records: [{ body: "no message id" }] } as never, testContext())).rejects.toBeInstanceOf(InvalidEventError);
    expect(calls).toBe(0);
  });
});

describe("streamBatchHandler", () => {
  it("stops at the first failed record and reports its sequence number, so the stream resumes there", async () => {
    const seen: string[] = [];
    const handler = streamBatchHandler(async (record) => {
      seen.push(record.dynamodb!.SequenceNumber!);
      if (record.dynamodb!.SequenceNumber === "2") throw new Error("boom");
    }, { logger });
    const result = await handler(streamEvent(streamRecord("1", "INSERT"), streamRecord("2", "INSERT"), streamRecord("3", "INSERT")), testContext());
    expect(result.batchItemFailures[0]).toEqual({ itemIdentifier: "2" });
    expect(seen[0]).toBe("1");
  });
});

describe("lambdaHandler", () => {
  it("checks the envelope against the schema, naming what it expected", async () => {
    const handler = lambdaHandler("thing", z.object({ n: z.number() }), { logger }, async (event: { n: number }) => event.n * 2);
    expect(await handler({ n: 21 }, testContext())).toBe(42);
    await expect(handler({ n: "21" } as never, testContext())).rejects.toThrow(/Invalid thing event: n:/);
  });
});

describe("serviceName", () => {
  it("is the function's POWERTOOLS_SERVICE_NAME, with a default where none is set", () => {
    expect(serviceName({ POWERTOOLS_SERVICE_NAME: "ingest" })).toBe("ingest");
    expect(serviceName({})).toBe(DEFAULT_SERVICE_NAME);
    expect(serviceName({ POWERTOOLS_SERVICE_NAME: " " })).toBe(DEFAULT_SERVICE_NAME);
  });
});
