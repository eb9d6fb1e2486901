import type { Readable } from "node:stream";
import type { Position } from "./split-records.ts";

/** One record read from an upload: a value to validate, or why it could not be read. */
export interface ParsedRecord {
  /** 1-based line where the record starts in the uploaded file. */
  line: number;
  record?: unknown;
  error?: string;
  /** Where the next record starts: parsing can resume there (see `ParseOptions.from`). */
  next: Position;
}

/** What the parsers read from: a blob stream, or any stream of byte chunks. */
export type ByteSource = Readable | AsyncIterable<Uint8Array | string>;

export interface ParseOptions {
  /** Longest record kept, in bytes (PlatformConfig.maxRecordBytes). */
  maxRecordBytes: number;
  /** The source starts here, at a `next` an earlier parse of the same file reported (default: the file's start). */
  from?: Position;
}

/** The reason given for a record longer than the limit. */
export const tooLongReason = (maxBytes: number) => `record exceeds ${maxBytes} bytes`;
