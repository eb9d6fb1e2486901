import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { SqsQueueSender } from "./sqs-queue-sender.ts";

const sqs = new SQSClient({ region: "us-east-1" });
const mock = mockClient(sqs);
const urls = {
  ingest: "https://sqs.us-east-1.amazonaws.com/123456789012/ingest",
  webhooks: "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks",
};
const sender = new SqsQueueSender(sqs, urls);

beforeEach(() => {
  mock.reset();
  mock.on(SendMessageCommand).resolves({ MessageId: "m-1" });
});

describe("SqsQueueSender", () => {
  it("sends the JSON body to the queue's URL", async () => {
    await sender.send("webhooks", { deliveryId: "d1", attempt: 1 });
    expect(mock.commandCalls(SendMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: urls.webhooks,
      MessageBody: '{"deliveryId":"d1","attempt":1}',
    });
  });

  it("passes a delay through as DelaySeconds", async () => {
    await sender.send("ingest", { key: "k" }, { delaySeconds: 30 });
    expect(mock.commandCalls(SendMessageCommand)[0]!.args[0].input).toMatchObject({ QueueUrl: urls.ingest, DelaySeconds: 30 });
  });

  it("refuses a queue without a URL, an out-of-range delay and a body JSON cannot hold", async () => {
    await expect(sender.send("webhooks-dlq", {})).rejects.toThrow(/No SQS queue URL configured for queue "webhooks-dlq"/);
    await expect(sender.send("ingest", {}, { delaySeconds: 901 })).rejects.toThrow(RangeError);
    await expect(sender.send("ingest", {}, { delaySeconds: 1.5 })).rejects.toThrow(RangeError);
    await expect(sender.send("ingest", undefined)).rejects.toThrow(/JSON/);
    expect(mock.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it("lets an SQS failure reach the caller", async () => {
    mock.on(SendMessageCommand).rejects(new Error("throttled"));
    await expect(sender.send("ingest", {})).rejects.toThrow("throttled");
  });
});
