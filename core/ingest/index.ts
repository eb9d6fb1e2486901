/** Ingest: the use case the object-created consumer calls, and the parsers it is built from. */
export { ingestObject, type IngestObjectInput, type IngestResult } from "./ingest-object.ts";
export { detectFormat, parseRecords, UploadFormats, type UploadFormat } from "./formats.ts";
export type { ParsedRecord } from "./parsed-record.ts";
export { countTokens } from "./token-count.ts";
export { markUploadDeadLettered, type MarkUploadDeadLetteredInput, type MarkUploadDeadLetteredResult } from "./mark-upload-dead-lettered.ts";
export { STALE_PROCESSING_MS } from "./claim-content-hashes.ts";
