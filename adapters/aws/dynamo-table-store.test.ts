import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { ConditionFailedError, TransactionCanceledError } from "../../core/errors.ts";
import { DynamoTableStore, conditionInput, documentClientOptions } from "./dynamo-table-store.ts";

// The conformance suite runs this store against dynalite; these tests cover
// what dynalite lacks (TransactWriteItems, throttled batches) at the SDK edge.
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1" }), documentClientOptions);
const ddb = mockClient(doc);
const delays: number[] = [];
const store = new DynamoTableStore(doc, "main", {
  maxBatchAttempts: 3,
  sleep: async (ms) => {
    delays.push(ms);
  },
});

beforeEach(() => {
  ddb.reset();
  delays.length = 0;
});

describe("DynamoTableStore (SDK mock)", () => {
  it("builds condition expressions with names and values", () => {
    expect(conditionInput({ notExists: true })).toEqual({ ConditionExpression: "attribute_not_exists(pk)" });
    expect(conditionInput({ exists: true })).toEqual({ ConditionExpression: "attribute_exists(pk)" });
    expect(conditionInput({ equals: { rev: 3, "odd.name": { a: [1] }, gone: undefined } })).toEqual({
      ConditionExpression: "attribute_exists(pk) AND #c0 = :c0 AND #c1 = :c1 AND attribute_not_exists(#c2)",
      ExpressionAttributeNames: { "#c0": "rev", "#c1": "odd.name", "#c2": "gone" },
      ExpressionAttributeValues: { ":c0": 3, ":c1": { a: [1] } },
    });
  });

  it("maps ConditionalCheckFailedException to ConditionFailedError", async () => {
    ddb.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: "no", $metadata: {} }));
    await expect(store.put({ pk: "P", sk: "S" }, { notExists: true })).rejects.toBeInstanceOf(ConditionFailedError);
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input).toMatchObject({
      TableName: "main",
      Item: { pk: "P", sk: "S" },
      ConditionExpression: "attribute_not_exists(pk)",
    });
  });

  it("sends Put, Delete and ConditionCheck in one TransactWriteItems", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    await store.transact([
      { put: { pk: "A", sk: "1", v: undefined, w: 1 }, condition: { equals: { rev: 1 } } },
      { delete: { pk: "B", sk: "1" } },
      { check: { pk: "C", sk: "1" }, condition: { notExists: true } },
    ]);
    expect(ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input.TransactItems).toEqual([
      {
        Put: {
          TableName: "main",
          Item: { pk: "A", sk: "1", w: 1 },
          ConditionExpression: "attribute_exists(pk) AND #c0 = :c0",
          ExpressionAttributeNames: { "#c0": "rev" },
          ExpressionAttributeValues: { ":c0": 1 },
        },
      },
      { Delete: { TableName: "main", Key: { pk: "B", sk: "1" } } },
      { ConditionCheck: { TableName: "main", Key: { pk: "C", sk: "1" }, ConditionExpression: "attribute_not_exists(pk)" } },
    ]);
  });

  it("maps CancellationReasons to failedIndexes", async () => {
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: "Transaction cancelled",
        $metadata: {},
        CancellationReasons: [{ Code: "None" }, { Code: "ConditionalCheckFailed" }, { Code: "None" }, { Code: "ConditionalCheckFailed" }],
      }),
    );
    const ops = ["1", "2", "3", "4"].map((sk) => ({ put: { pk: "P", sk } }));
    const attempt = store.transact(ops);
    await expect(attempt).rejects.toBeInstanceOf(TransactionCanceledError);
    await expect(attempt).rejects.toMatchObject({ failedIndexes: [1, 3] });
  });

  it("rethrows a cancellation without failed conditions (a transient conflict)", async () => {
    const conflict = new TransactionCanceledException({
      message: "Transaction cancelled",
      $metadata: {},
      CancellationReasons: [{ Code: "TransactionConflict" }, { Code: "None" }],
    });
    ddb.on(TransactWriteCommand).rejects(conflict);
    await expect(store.transact([{ put: { pk: "P", sk: "1" } }, { put: { pk: "P", sk: "2" } }])).rejects.toBe(conflict);
  });

  it("refuses a key named twice and sends nothing for an empty transaction", async () => {
    await expect(store.transact([{ put: { pk: "A", sk: "1" } }, { check: { pk: "A", sk: "1" }, condition: { exists: true } }])).rejects.toThrow(
      /at most once/,
    );
    await store.transact([]);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it("refuses more than 100 operations before calling DynamoDB", async () => {
    const ops = Array.from({ length: 101 }, (_, i) => ({ put: { pk: "P", sk: String(i) } }));
    await expect(store.transact(ops)).rejects.toThrow(/at most 100/);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it("writes batches of 25 and resends unprocessed items with growing backoff", async () => {
    const items = Array.from({ length: 30 }, (_, i) => ({ pk: "P", sk: String(i).padStart(2, "0") }));
    // The first chunk leaves items 3 and 4 unprocessed, the retry leaves item 4 once more.
    let firstChunkCalls = 0;
    ddb.on(BatchWriteCommand).callsFake(async (input: { RequestItems: Record<string, { PutRequest: { Item: { sk: string } } }[]> }) => {
      const sks = input.RequestItems.main!.map((r) => r.PutRequest.Item.sk);
      if (!sks.includes("03") && !sks.includes("04")) return {};
      firstChunkCalls++;
      if (firstChunkCalls === 1) return { UnprocessedItems: { main: [{ PutRequest: { Item: items[3]! } }, { PutRequest: { Item: items[4]! } }] } };
      if (firstChunkCalls === 2) return { UnprocessedItems: { main: [{ PutRequest: { Item: items[4]! } }] } };
      return {};
    });
    await store.batchPut(items);
    const sizes = ddb.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems!.main!.length);
    expect(sizes.sort((a, b) => a - b)).toEqual([1, 2, 5, 25]);
    const written = ddb.commandCalls(BatchWriteCommand).flatMap((c) => c.args[0].input.RequestItems!.main!.map((r) => r.PutRequest!.Item!.sk));
    expect(new Set(written).size).toBe(30);
    expect(delays).toHaveLength(2);
  });

  it("keeps at most 8 BatchWriteItem calls in flight, and more than one", async () => {
    const items = Array.from({ length: 25 * 40 }, (_, i) => ({ pk: "P", sk: String(i).padStart(4, "0") }));
    let inFlight = 0;
    let most = 0;
    ddb.on(BatchWriteCommand).callsFake(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      return {};
    });
    await store.batchPut(items);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(40);
    expect(most).toBe(8);
  });

  it("stops sending further chunks after one fails, and reports that failure", async () => {
    const items = Array.from({ length: 25 * 40 }, (_, i) => ({ pk: "P", sk: String(i).padStart(4, "0") }));
    ddb.on(BatchWriteCommand).rejects(new Error("throttled for good"));
    await expect(store.batchPut(items)).rejects.toThrow("throttled for good");
    expect(ddb.commandCalls(BatchWriteCommand).length).toBeLessThanOrEqual(8);
  });

  it("gives up when items stay unprocessed", async () => {
    ddb.on(BatchWriteCommand).resolves({ UnprocessedItems: { main: [{ PutRequest: { Item: { pk: "P", sk: "1" } } }] } });
    await expect(store.batchPut([{ pk: "P", sk: "1" }])).rejects.toThrow(/unprocessed after 3 attempts/);
  });

  it("keeps reading when DynamoDB stops a page early at its 1 MB cap", async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ pk: "P", sk: "1" }], LastEvaluatedKey: { pk: "P", sk: "1" } })
      .resolvesOnce({ Items: [{ pk: "P", sk: "2" }, { pk: "P", sk: "3" }], LastEvaluatedKey: { pk: "P", sk: "3" } });
    const page = await store.query({ pk: "P", limit: 2, skPrefix: "" });
    expect(page.items.map((i) => i.sk)).toEqual(["1", "2"]);
    const calls = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(calls[0]).toMatchObject({ Limit: 3, KeyConditionExpression: "#pk = :pk", ConsistentRead: true, ScanIndexForward: true });
    expect(calls[1]).toMatchObject({ Limit: 2, ExclusiveStartKey: { pk: "P", sk: "1" } });
    expect(JSON.parse(Buffer.from(page.cursor!, "base64url").toString())).toEqual({ pk: "P", sk: "2" });
  });

  it("queries gsi1 with BETWEEN, descending, and a full index cursor", async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    const cursor = Buffer.from(JSON.stringify({ pk: "A", sk: "1", gsi1pk: "G", gsi1sk: "5" })).toString("base64url");
    await store.query({ pk: "G", index: "gsi1", skBetween: ["1", "9"], reverse: true, cursor });
    expect(ddb.commandCalls(QueryCommand)[0]!.args[0].input).toMatchObject({
      IndexName: "gsi1",
      KeyConditionExpression: "#pk = :pk AND #sk BETWEEN :from AND :to",
      ExpressionAttributeNames: { "#pk": "gsi1pk", "#sk": "gsi1sk" },
      ExpressionAttributeValues: { ":pk": "G", ":from": "1", ":to": "9" },
      ScanIndexForward: false,
      ExclusiveStartKey: { pk: "A", sk: "1", gsi1pk: "G", gsi1sk: "5" },
    });
    // A cursor from another partition is not replayed against this one.
    await expect(store.query({ pk: "H", index: "gsi1", cursor })).rejects.toThrow(/Invalid pagination cursor/);
  });
});
