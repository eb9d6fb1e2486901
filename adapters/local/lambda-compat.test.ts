import { DatabaseSync } from "node:sqlite";
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord, SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { createdObjects, s3ObjectCreatedEvent } from "../../functions/handlers/s3-notification.ts";
import { OutboxStream } from "./outbox-stream.ts";
import { QueuePoller } from "./queue-poller.ts";
import { SqliteQueue } from "./sqlite-queue.ts";
import { SqliteTableStore } from "./sqlite-table-store.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";

// The local event shapes must work with the code that consumes the real ones:
// Powertools' BatchProcessor and the handlers' S3 notification decoding.
describe("local events under Lambda consumer code", () => {
  it("an S3 notification sent through the local queue reaches a Powertools SQS handler, failures retried", async () => {
    const clock = new FakeClock();
    const queues = new SqliteQueue(new DatabaseSync(":memory:"), { clock });
    const ingested: string[] = [];
    let failOnce = true;
    const record = async (r: SQSRecord) => {
      for (const object of createdObjects(r.body)) {
        if (object.key.endsWith("bad (1).csv") && failOnce) {
          failOnce = false;
          throw new Error("transient");
        }
        ingested.push(`${object.bucket}:${object.key}:${object.size}`);
      }
    };
    const poller = new QueuePoller({
      queues,
      queue: "ingest",
      handler: (event, context) => processPartialResponse(event, record, new BatchProcessor(EventType.SQS), { context }),
    });
    await queues.send("ingest", s3ObjectCreatedEvent({ bucket: "local", key: "dn/u 1/good.jsonl", size: 10 }));
    await queues.send("ingest", s3ObjectCreatedEvent({ bucket: "local", key: "dn/u2/bad (1).csv", size: 20 }));
    await poller.pollOnce();
    expect(ingested).toEqual(["local:dn/u 1/good.jsonl:10"]);
    clock.advance(30_000);
    await poller.idle({ timeoutMs: 2000 });
    expect(ingested).toEqual(["local:dn/u 1/good.jsonl:10", "local:dn/u2/bad (1).csv:20"]);
  });

  it("outbox records reach a Powertools DynamoDB-stream handler, which resumes from the failed record", async () => {
    const db = new DatabaseSync(":memory:");
    const main = new SqliteTableStore(db, "main", { stream: true });
    const stream = new OutboxStream(db, { retryDelayMs: 0, onError: () => {} });
    const seen: string[] = [];
    let failOnce = true;
    const record = async (r: DynamoDBRecord) => {
      const item = unmarshall(r.dynamodb!.NewImage as Record<string, AttributeValue>);
      if (item.pk === "2" && failOnce) {
        failOnce = false;
        throw new Error("transient");
      }
      seen.push(item.pk as string);
    };
    stream.subscribe({
      name: "router",
      table: "main",
      handler: (event, context) =>
        processPartialResponse(event, record, new BatchProcessor(EventType.DynamoDBStreams), { context, processInParallel: false }),
    });
    for (const pk of ["1", "2", "3"]) await main.put({ pk, sk: "x", data: { n: Number(pk) } });
    await stream.idle({ timeoutMs: 2000 });
    // Powertools processes 3 after 2 fails; the stream then resumes from 2, so 3 comes twice (at least once).
    expect(seen).toEqual(["1", "3", "2", "3"]);
    expect(stream.failures()).toEqual([]);
  });
});
