import { describe, expect, it } from "vitest";
import { createdObjects, decodeS3Key, encodeS3EventKey, s3ObjectCreatedEvent } from "./s3-notification.ts";
import { s3Notification } from "./test-events.ts";

describe("createdObjects", () => {
  it("decodes keys S3 URL-encoded with + for spaces", () => {
    const body = JSON.stringify(s3Notification({ key: "uploads/ds_1/my+file+%281%29%2B%C3%A9.jsonl", size: 12 }));
    expect(createdObjects(body)).toEqual([{ bucket: "uploads-bucket", key: "uploads/ds_1/my file (1)+é.jsonl", size: 12 }]);
  });

  it("returns nothing for the s3:TestEvent and skips non-create events", () => {
    expect(createdObjects(JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent", Bucket: "b" }))).toEqual([]);
    expect(createdObjects(JSON.stringify(s3Notification({ key: "k", size: 1, eventName: "ObjectRemoved:Delete" })))).toEqual([]);
  });

  it("throws on bodies that are no S3 notification", () => {
    expect(() => createdObjects("not json")).toThrow(/not JSON/);
    expect(() => createdObjects(JSON.stringify({ hello: 1 }))).toThrow();
    expect(() => createdObjects(JSON.stringify({ Records: [{ eventName: "ObjectCreated:Put", s3: { bucket: { name: "b" }, object: { key: "k", size: -1 } } }] }))).toThrow();
    expect(() => decodeS3Key("bad%E0%A4%A")).toThrow(URIError);
  });
});

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
