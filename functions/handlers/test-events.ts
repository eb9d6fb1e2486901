// Event factories for the handler tests: the shapes Lambda delivers.
import { marshall } from "@aws-sdk/util-dynamodb";
import type { Context, DynamoDBRecord, DynamoDBStreamEvent, SQSEvent, SQSRecord } from "aws-lambda";

/** A Lambda context for invoking a handler directly. */
export function testContext(functionName = "test-function"): Context {
  const fail = () => {
    throw new Error("not supported in tests");
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: "512",
    awsRequestId: "req-1",
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "test",
    getRemainingTimeInMillis: () => 30_000,
    done: fail,
    fail,
    succeed: fail,
  };
}

/** An SQS record with the given body (objects are JSON-encoded). */
export function sqsRecord(messageId: string, body: unknown): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "1700000000000",
      SenderId: "AIDAEXAMPLE",
      ApproximateFirstReceiveTimestamp: "1700000000000",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:queue",
    awsRegion: "us-east-1",
  };
}

export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** The body S3 puts on the queue for created objects (keys given already encoded). */
export function s3Notification(...objects: { key: string; size: number; eventName?: string }[]) {
  return {
    Records: objects.map(({ key, size, eventName }) => ({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: "us-east-1",
      eventTime: "2024-01-01T00:00:00.000Z",
      eventName: eventName ?? "ObjectCreated:Put",
      s3: { s3SchemaVersion: "1.0", bucket: { name: "uploads-bucket", arn: "arn:aws:s3:::uploads-bucket" }, object: { key, size, eTag: "e" } },
    })),
  };
}

/** A DynamoDB stream record of a change to the main table. */
export function streamRecord(
  sequenceNumber: string,
  eventName: "INSERT" | "MODIFY" | "REMOVE",
  newImage?: Record<string, unknown>,
): DynamoDBRecord {
  return {
    eventID: `ev-${sequenceNumber}`,
    eventName,
    eventVersion: "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: "us-east-1",
    dynamodb: {
      SequenceNumber: sequenceNumber,
      StreamViewType: "NEW_AND_OLD_IMAGES",
      SizeBytes: 100,
      ...(newImage
        ? {
            Keys: marshall({ pk: newImage.pk, sk: newImage.sk }) as never,
            NewImage: marshall(newImage, { removeUndefinedValues: true }) as never,
          }
        : {}),
    },
    eventSourceARN: "arn:aws:dynamodb:us-east-1:123456789012:table/main/stream/2024",
  };
}

export const streamEvent = (...records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: records });
