import type { CoreDeps } from "../deps.ts";
import { splitRecords } from "../ingest/split-records.ts";
import { acceptedBlobKey, uploadKey } from "./keys.ts";
import type { Contribution } from "./model.ts";

/** Longest content a listing carries per record, in UTF-16 code units; longer records are cut and flagged. */
export const PREVIEW_MAX_CHARS = 2000;

/** What a listing adds to a contribution so a person can see the data itself. */
export interface RecordPreview {
  /** The upload's file name as the contributor sent it; null when the upload item is gone. */
  filename: string | null;
  /** The accepted record as stored (normalised canonical JSON), at most PREVIEW_MAX_CHARS; null for a rejected record. */
  content: string | null;
  /** Whether `content` was cut at PREVIEW_MAX_CHARS. */
  contentTruncated: boolean;
}

/**
 * Adds file names and record contents to a page of contributions. Contents
 * come from each upload's accepted-records blob (the records in line order,
 * as versions freeze them), read from its start only as far as the last
 * record of the page: a page deep in a very large upload reads that far.
 * The caller has already checked that the Datanet is visible.
 */
export async function withRecordPreviews<C extends Contribution>(deps: Pick<CoreDeps, "tables" | "blobs">, datanetId: string, page: C[]): Promise<(C & RecordPreview)[]> {
  const uploadIds = [...new Set(page.map((c) => c.uploadId))];
  const filenames = new Map<string, string | null>();
  const contents = new Map<string, string>();
  await Promise.all(uploadIds.map(async (uploadId) => {
    const upload = await deps.tables.main.get(uploadKey(datanetId, uploadId));
    filenames.set(uploadId, typeof upload?.filename === "string" ? upload.filename : null);
    const wanted = new Set(page.filter((c) => c.uploadId === uploadId && c.status === "accepted").map((c) => c.id));
    if (wanted.size > 0) for (const [id, json] of await acceptedRecords(deps, datanetId, uploadId, wanted)) contents.set(id, json);
  }));
  return page.map((c) => {
    const json = contents.get(c.id);
    return {
      ...c,
      filename: filenames.get(c.uploadId) ?? null,
      content: json === undefined ? null : json.slice(0, PREVIEW_MAX_CHARS),
      contentTruncated: json !== undefined && json.length > PREVIEW_MAX_CHARS,
    };
  });
}

/** The records of `wanted` (contribution id → record JSON) from the upload's accepted parts, stopping once all are found. */
async function acceptedRecords(deps: Pick<CoreDeps, "blobs">, datanetId: string, uploadId: string, wanted: Set<string>): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  // Listing the part-0 key as a prefix yields every part in order (core/datanets/keys.ts).
  for (const key of await deps.blobs.list(acceptedBlobKey(datanetId, uploadId))) {
    const blob = await deps.blobs.get(key);
    if (!blob) continue;
    try {
      // An accepted line is a record (at most 1 MiB) plus its id and hash.
      for await (const raw of splitRecords(blob as AsyncIterable<Buffer>, 2 * 1024 * 1024)) {
        if (!raw.bytes || raw.bytes.length === 0) continue;
        const line = JSON.parse(raw.bytes.toString("utf8")) as { contributionId: string; record: unknown };
        if (!wanted.has(line.contributionId)) continue;
        found.set(line.contributionId, JSON.stringify(line.record));
        if (found.size === wanted.size) return found;
      }
    } finally {
      blob.destroy();
    }
  }
  return found;
}
