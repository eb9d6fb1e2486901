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
