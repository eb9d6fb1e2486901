import type { Readable } from "node:stream";

/** One record read from an upload: a value to validate, or why it could not be read. */
export interface ParsedRecord {
  /** 1-based line where the record starts in the uploaded file. */
  line: number;
  record?: unknown;
  error?: string;
}

/** What the parsers read from: a blob stream, or any stream of byte chunks. */
export type ByteSource = Readable | AsyncIterable<Uint8Array | string>;

export interface ParseOptions {
  /** Longest record kept, in bytes (PlatformConfig.maxRecordBytes). */
  maxRecordBytes: number;
}

/** The reason given for a record longer than the limit. */
export const tooLongReason = (maxBytes: number) => `record exceeds ${maxBytes} bytes`;
