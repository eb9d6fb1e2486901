import { describe, expect, it } from "vitest";
import { encodeS3EventKey, s3ObjectCreatedEvent } from "./s3-event.ts";

describe("s3ObjectCreatedEvent", () => {
  it("builds the notification S3 sends to SQS for a PUT", () => {
    const at = Date.UTC(2025, 0, 2, 3, 4, 5);
    const event = s3ObjectCreatedEvent({ bucket: "local", key: "datanets/dn_1/up 1/data (1).jsonl", size: 42, eTag: "abc", at });
    expect(event.Records).toHaveLength(1);
    expect(event.Records[0]).toMatchObject({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      eventName: "ObjectCreated:Put",
      eventTime: "2025-01-02T03:04:05.000Z",
      s3: {
        bucket: { name: "local", arn: "arn:aws:s3:::local" },
        object: { key: "datanets/dn_1/up+1/data+%281%29.jsonl", size: 42, eTag: "abc" },
      },
    });
    // It survives the trip through a queue as JSON.
    expect(JSON.parse(JSON.stringify(event))).toEqual(event);
  });

  it("encodes keys so the usual S3 decoding gives them back", () => {
    for (const key of ["a b/c+d", "ümlaut/ß.txt", "x/%41/y", "q?&=#", "plain/key.csv"]) {
      const encoded = encodeS3EventKey(key);
      expect(encoded).not.toMatch(/ /);
      expect(decodeURIComponent(encoded.replace(/\+/g, " "))).toBe(key);
    }
    expect(encodeS3EventKey("a+b c")).toBe("a%2Bb+c");
  });
});
