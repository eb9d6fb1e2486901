import { randomBytes } from "node:crypto";
import type { S3Event } from "aws-lambda";

export interface CreatedObject {
  bucket: string;
  /** The key as stored (not encoded). */
  key: string;
  size: number;
  /** Hex digest without quotes, as S3 puts it in events (optional locally). */
  eTag?: string;
  /** When the object was created, epoch ms (default now). */
  at?: number;
}

/**
 * The event notification S3 sends to SQS for a PUT, so the local runtime can
 * feed the ingest queue exactly as S3 would. The key is URL-encoded the way S3
 * encodes it there (form encoding: space as `+`, `/` kept), so consumers must
 * decode it with `decodeURIComponent(key.replace(/\+/g, " "))` on both.
 */
export function s3ObjectCreatedEvent(object: CreatedObject): S3Event {
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
