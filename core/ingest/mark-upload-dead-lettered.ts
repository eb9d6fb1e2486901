import type { Address } from "../account.ts";
import { contributionLayout } from "../datanets/contribution-layout.ts";
import { datanetKey, parseUploadBlobKey, uploadKey } from "../datanets/keys.ts";
import type { CoreDeps } from "../deps.ts";
import { TransactionCanceledError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import { releaseUploadRecords } from "./release-upload-records.ts";

export interface MarkUploadDeadLetteredInput {
  /** The uploaded object's key, as in the dead-lettered notification. */
  key: string;
  /** Why ingest gave up, shown to the uploader as the upload's `error`. */
  reason: string;
}

export interface MarkUploadDeadLetteredResult {
  /** `skipped`: not an upload, no such upload, or it had already finished. */
  status: "failed" | "skipped";
}

/**
 * Called for each object notification the ingest queue gave up on: an upload
 * still `pending` or `processing` becomes `failed` with `reason`, after its
 * contribution rows, their hash claims and its accepted blob are removed, and
 * `upload.completed` (status failed) is recorded with the change. Safe to
 * repeat: a finished upload is left alone (a failed one only has leftovers
 * released again), and the status changes only from the state read.
 */
export async function markUploadDeadLettered(deps: CoreDeps, input: MarkUploadDeadLetteredInput): Promise<MarkUploadDeadLetteredResult> {
  const target = parseUploadBlobKey(input.key);
  if (!target) return { status: "skipped" };
  const { datanetId, uploadId } = target;
  const main = deps.tables.main;
  const upload = await main.get(uploadKey(datanetId, uploadId));
  if (!upload || upload.status === "done") return { status: "skipped" };

  // Release first: if we stop between the two steps, the upload is still
  // unfinished and the next delivery does both again. Without its Datanet
  // (never deleted today) ingest wrote nothing: it stops before its first row.
  const datanet = await main.get(datanetKey(datanetId));
  if (datanet) await releaseUploadRecords(deps, contributionLayout(datanet), uploadId);
  if (upload.status === "failed") return { status: "skipped" };

  const now = deps.clock.now();
  const audience = [upload.contributor as Address, ...(datanet ? [datanet.owner as Address] : [])];
  const outcome = { status: "failed", accepted: 0, rejected: 0, error: input.reason } as const;
  try {
    await main.transact([
      { put: { ...upload, ...outcome, completedAt: new Date(now).toISOString() }, condition: { equals: { status: upload.status } } },
      eventWrite("upload.completed", { datanetId, uploadId, ...outcome }, audience, now),
    ]);
  } catch (error) {
    if (!(error instanceof TransactionCanceledError) || !error.failedIndexes.includes(0)) throw error;
    // A late run finished it, or another copy of this message failed it first.
    const current = await main.get(uploadKey(datanetId, uploadId));
    if (current?.status === "done" || current?.status === "failed") return { status: "skipped" };
    throw error;
  }
  return { status: "failed" };
}
