import { randomBytes } from "node:crypto";
import type { S3Event } from "aws-lambda";
import { z } from "zod";

/** An object S3 reported as created. */
export interface CreatedObject {
  bucket: string;
  /** The object key, decoded. */
  key: string;
  /** Bytes. */
  size: number;
}

const S3EventRecord = z.looseObject({
  eventName: z.string(),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string() }),
    object: z.looseObject({ key: z.string().min(1), size: z.number().int().nonnegative().optional() }),
  }),
});

/** The body of an SQS message S3 sends. */
const S3Notification = z.looseObject({ Records: z.array(S3EventRecord) });
/** What S3 sends once when the notification is set up. */
const S3TestEvent = z.looseObject({ Event: z.literal("s3:TestEvent") });

/**
 * The created objects named by an S3 notification delivered through SQS.
 * Keys arrive URL-encoded with `+` for spaces. Throws on a body that is no
 * S3 notification.
 */
export function createdObjects(body: string): CreatedObject[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error("SQS message body is not JSON");
  }
  if (S3TestEvent.safeParse(json).success) return [];
  return S3Notification.parse(json).Records.filter((r) => r.eventName.startsWith("ObjectCreated:")).map((r) => {
    if (r.s3.object.size === undefined) throw new Error(`S3 event ${r.eventName} has no object size`);
    return { bucket: r.s3.bucket.name, key: decodeS3Key(r.s3.object.key), size: r.s3.object.size };
  });
}

/** S3 notifications encode keys like form data: `+` for space, `%XX` for the rest. */
export function decodeS3Key(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, " "));
}

/**
 * The event notification S3 sends to SQS for a PUT (the inverse of
 * `createdObjects`): the local runtime feeds the ingest queue with it exactly
 * as S3 would, and the ingest function queues a paused run's continuation
 * with it. `eTag` (hex, no quotes) is empty unless given; `at` (epoch ms)
 * defaults to now. The key is URL-encoded the way S3
 * encodes it there (form encoding: space as `+`, `/` kept), so consumers must
 * decode it with `decodeURIComponent(key.replace(/\+/g, " "))` on both.
 */
export function s3ObjectCreatedEvent(object: CreatedObject & { eTag?: string; at?: number }): S3Event {
  const at = object.at ?? Date.now();
  return {
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: "local",
        eventTime: new Date(at).toISOString(),
        eventName: "ObjectCreated:Put",
        userIdentity: { principalId: "local" },
        requestParameters: { sourceIPAddress: "127.0.0.1" },
        responseElements: { "x-amz-request-id": randomBytes(8).toString("hex").toUpperCase(), "x-amz-id-2": randomBytes(32).toString("base64") },
        s3: {
          s3SchemaVersion: "1.0",
          configurationId: "local-object-created",
          bucket: { name: object.bucket, ownerIdentity: { principalId: "local" }, arn: `arn:aws:s3:::${object.bucket}` },
          object: {
            key: encodeS3EventKey(object.key),
            size: object.size,
            eTag: object.eTag ?? "",
            // S3's sequencer orders events of one key: a hex value that grows over time.
            sequencer: at.toString(16).toUpperCase().padStart(16, "0") + randomBytes(2).toString("hex").toUpperCase(),
          },
        },
      },
    ],
  };
}

/** A key as S3 event notifications carry it: each segment form-encoded, `/` kept. */
export function encodeS3EventKey(key: string): string {
  return key
    .split("/")
    .map((segment) =>
      encodeURIComponent(segment)
        .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
        .replace(/%20/g, "+"),
    )
    .join("/");
}
