import type { Key } from "../ports/tables.ts";

/**
 * Item keys of the Datanet domain (see DESIGN: main table for Datanets,
 * uploads and versions; contributions table for the bulk rows).
 */
export const datanetPk = (datanetId: string) => `DATANET#${datanetId}`;

export const datanetKey = (datanetId: string): Key => ({ pk: datanetPk(datanetId), sk: "META" });
/** Secondary-index partition holding every Datanet, sorted by creation. */
export const DATANETS_GSI_PK = "DATANETS";

export const UPLOAD_SK_PREFIX = "UPLOAD#";
export const uploadKey = (datanetId: string, uploadId: string): Key => ({
  pk: datanetPk(datanetId),
  sk: `${UPLOAD_SK_PREFIX}${uploadId}`,
});

/** Versions sort numerically as strings: zero-padded to 10 digits. */
export const versionKey = (datanetId: string, version: number): Key => ({
  pk: datanetPk(datanetId),
  sk: `VERSION#${String(version).padStart(10, "0")}`,
});

/* Contribution rows, their index rows and content-hash claims: see contribution-layout.ts (sharded per Datanet). */

/** Blob keys. */
export const uploadBlobKey = (datanetId: string, uploadId: string) => `uploads/${datanetId}/${uploadId}`;
/** The Datanet and upload an upload's blob key names, or undefined for any other key. */
export function parseUploadBlobKey(key: string): { datanetId: string; uploadId: string } | undefined {
  const match = /^uploads\/([^/]+)\/([^/]+)$/.exec(key);
  return match ? { datanetId: match[1]!, uploadId: match[2]! } : undefined;
}
export const acceptedPrefix = (datanetId: string) => `datanets/${datanetId}/accepted/`;
export const acceptedBlobKey = (datanetId: string, uploadId: string) => `${acceptedPrefix(datanetId)}${uploadId}.jsonl`;
/**
 * Accepted records come in parts, one per stretch between ingest checkpoints:
 * part 0 is `acceptedBlobKey`, part n ≥ 1 that key plus `.part-{n, 5 digits}`, so
 * listing the key as a prefix returns the parts in order.
 */
export const acceptedPartKey = (datanetId: string, uploadId: string, part: number) =>
  part === 0 ? acceptedBlobKey(datanetId, uploadId) : `${acceptedBlobKey(datanetId, uploadId)}.part-${String(part).padStart(5, "0")}`;
/** The ingest checkpoint of an upload (contributions table): where a resumed run starts. */
export const ingestCheckpointKey = (datanetId: string, uploadId: string): Key => ({ pk: datanetPk(datanetId), sk: `INGEST#${uploadId}` });
export const versionRecordsBlobKey = (datanetId: string, version: number) => `datanets/${datanetId}/versions/${version}/records.jsonl`;
export const versionTreeBlobKey = (datanetId: string, version: number) => `datanets/${datanetId}/versions/${version}/tree.json`;

/**
 * A contribution's id follows from its upload and line, so re-processing an
 * upload rewrites the same items. Ids sort by upload (ULIDs are time-ordered),
 * then by line: `ct_<upload ULID>_<line, 10 digits>`.
 */
export function contributionId(uploadId: string, line: number): string {
  return `ct_${uploadId.replace(/^up_/, "")}_${String(line).padStart(10, "0")}`;
}

/** The prefix shared by every contribution id of one upload. */
export const contributionIdPrefix = (uploadId: string) => `ct_${uploadId.replace(/^up_/, "")}_`;
