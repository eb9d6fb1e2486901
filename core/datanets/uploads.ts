import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { NotFoundError, PayloadTooLargeError, ValidationError } from "../errors.ts";
import { newId } from "../ids.ts";
import { requireWithin, withAccountQuota } from "../quotas/quotas.ts";
import { detectFormat, formatProblem } from "../ingest/formats.ts";
import type { Item } from "../ports/tables.ts";
import { loadVisibleDatanet, sameAddress } from "./access.ts";
import { uploadFromItem } from "./items.ts";
import { uploadBlobKey, uploadKey } from "./keys.ts";
import type { DatanetSchemaKind, Upload } from "./model.ts";
import { CreateUploadInput } from "./model.ts";

export interface CreatedUpload {
  uploadId: string;
  method: "PUT";
  url: string;
  headers: Record<string, string>;
  expiresAt: string;
}

/**
 * Starts an upload to a Datanet: checks that the caller may contribute (anyone
 * to a public Datanet, the owner to a private one), the size limit and the
 * format, records the upload as `pending`, and returns a signed URL that only
 * accepts a body of exactly the declared size and sha256.
 */
export async function createUpload(deps: CoreDeps, caller: Caller, datanetId: string, input: CreateUploadInput): Promise<CreatedUpload> {
  const parsed = CreateUploadInput.safeParse(input);
  if (!parsed.success) throw new ValidationError("Invalid upload", parsed.error.issues);
  const { filename, contentType, size, sha256 } = parsed.data;
  // Private Datanets of others are invisible (not found), so contributing
  // needs no further check: whoever sees a Datanet may contribute to it.
  const datanet = await loadVisibleDatanet(deps, caller, datanetId);
  if (size > deps.config.maxUploadBytes) {
    throw new PayloadTooLargeError(`Upload of ${size} bytes exceeds the limit of ${deps.config.maxUploadBytes} bytes`);
  }
  const format = detectFormat(filename, contentType);
  if (!format) throw new ValidationError(`Unsupported file type "${filename}" (${contentType}): use JSONL (.jsonl), CSV (.csv) or plain text (.txt)`);
  const mismatch = formatProblem(format, datanet.schema as DatanetSchemaKind);
  if (mismatch) throw new ValidationError(mismatch);

  const now = deps.clock.now();
  const uploadId = newId("up", now);
  const presigned = await deps.blobs.presignUpload({
    key: uploadBlobKey(datanetId, uploadId),
    contentType,
    size,
    sha256,
    expiresInSeconds: deps.config.uploadUrlTtlSeconds,
  });
  const upload: Upload = {
    uploadId,
    datanetId,
    contributor: caller.address,
    filename,
    contentType,
    size,
    sha256,
    status: "pending",
    accepted: 0,
    rejected: 0,
    createdAt: new Date(now).toISOString(),
  };
  const item: Item = { ...uploadKey(datanetId, uploadId), ...upload, format };
  // The upload commits with the account's storage counters: bytes not yet ingested, and bytes today.
  const quotas = deps.config.quotas;
  await withAccountQuota(deps, caller.address, (state) => {
    const inFlight = state.inFlight.reduce((sum, u) => sum + u.bytes, 0);
    requireWithin("uploadBytesInFlight", quotas.uploadBytesInFlight, inFlight, size, "bytes not yet ingested");
    requireWithin("uploadBytesPerDay", quotas.uploadBytesPerDay, state.uploadBytesToday, size, "bytes uploaded today");
    return {
      change: {
        writes: [{ put: item, condition: { notExists: true } }],
        addInFlight: { datanetId, uploadId, bytes: size, urlExpiresAt: Date.parse(presigned.expiresAt) },
        addUploadBytes: size,
      },
      result: undefined,
    };
  });
  return { uploadId, method: presigned.method, url: presigned.url, headers: presigned.headers, expiresAt: presigned.expiresAt };
}

/** An upload's status and counts, for its uploader and the Datanet's owner. */
export async function getUpload(deps: CoreDeps, caller: Caller, datanetId: string, uploadId: string): Promise<Upload> {
  const datanet = await loadVisibleDatanet(deps, caller, datanetId);
  const item = await deps.tables.main.get(uploadKey(datanetId, uploadId));
  const allowed = item && (sameAddress(item.contributor as string, caller.address) || sameAddress(datanet.owner as string, caller.address));
  if (!item || !allowed) throw new NotFoundError("Upload");
  return uploadFromItem(item);
}
