import { describe, expect, it } from "vitest";
import { createdObjects, decodeS3Key } from "./s3-notification.ts";
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
