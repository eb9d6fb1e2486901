/**
 * Byte-level record splitting for streamed uploads. A record is a line (JSONL,
 * plain text) or a CSV record, which may span lines inside quotes. At most
 * `maxBytes` of one record are ever held: a longer record is reported once as
 * `tooLong` and the rest of it is skipped as it streams past, never buffered.
 */

/** One record's raw bytes, without its line terminator (`\n` or `\r\n`). */
export interface RawRecord {
  /** 1-based line on which the record starts. */
  line: number;
  /** The record's bytes; absent when the record was too long. */
  bytes?: Buffer;
  tooLong?: true;
}

/** Finds where records end; holds the state a record's end depends on (CSV quoting). */
export interface RecordScanner {
  /** Index of the `\n` that ends the current record in `buf` from `from` on, or -1. */
  findEnd(buf: Buffer, from: number): number;
  /** Line breaks inside the current record so far (a quoted CSV field can hold some). */
  innerLines: number;
  /** Called after each record end. */
  reset(): void;
}

const LF = 0x0a;
const CR = 0x0d;

/** Records are lines: each `\n` ends one. */
export function lineScanner(): RecordScanner {
  return { findEnd: (buf, from) => buf.indexOf(LF, from), innerLines: 0, reset() {} };
}

/**
 * RFC 4180 records: a `\n` ends a record unless it sits inside a quoted field.
 * A quote opens a quoted field only at the start of a field, as csv-parse reads
 * it, so a stray quote inside an unquoted field does not swallow later lines.
 */
export function csvScanner(delimiter = 0x2c): RecordScanner {
  const FIELD_START = 0;
  const UNQUOTED = 1;
  const QUOTED = 2;
  const QUOTE_IN_QUOTED = 3;
  let state = FIELD_START;
  const scanner: RecordScanner = {
    innerLines: 0,
    findEnd(buf, from) {
      for (let i = from; i < buf.length; i++) {
        const c = buf[i]!;
        switch (state) {
          case FIELD_START:
            if (c === LF) return i;
            if (c === 0x22) state = QUOTED;
            else if (c !== delimiter) state = UNQUOTED;
            break;
          case UNQUOTED:
            if (c === LF) return i;
            if (c === delimiter) state = FIELD_START;
            break;
          case QUOTED:
            if (c === 0x22) state = QUOTE_IN_QUOTED;
            else if (c === LF) scanner.innerLines++;
            break;
          case QUOTE_IN_QUOTED:
            if (c === LF) return i;
            if (c === 0x22) state = QUOTED;
            else if (c === delimiter) state = FIELD_START;
            else state = UNQUOTED; // malformed (`"a"b`): the field parser reports it
            break;
        }
      }
      return -1;
    },
    reset() {
      state = FIELD_START;
      scanner.innerLines = 0;
    },
  };
  return scanner;
}

/** Splits a byte stream into records; see the module comment for the memory bound. */
export async function* splitRecords(
  source: AsyncIterable<Uint8Array | string>,
  maxBytes: number,
  scanner: RecordScanner = lineScanner(),
): AsyncGenerator<RawRecord> {
  let parts: Buffer[] = [];
  let size = 0;
  let skipping = false;
  let started = false; // whether the current record has any byte yet
  let line = 1;

  const take = (segment: Buffer) => {
    started = true;
    if (skipping) return;
    // The terminator's `\r` does not count against the limit.
    if (size + segment.length > maxBytes + 1) {
      skipping = true;
      parts = [];
      size = 0;
      return;
    }
    if (segment.length > 0) {
      parts.push(segment);
      size += segment.length;
    }
  };

  const finish = (): RawRecord => {
    let record: RawRecord;
    if (!skipping) {
      let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
      record = bytes.length > maxBytes ? { line, tooLong: true } : { line, bytes };
    } else {
      record = { line, tooLong: true };
    }
    line += 1 + scanner.innerLines;
    scanner.reset();
    parts = [];
    size = 0;
    skipping = false;
    started = false;
    return record;
  };

  for await (const chunk of source) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    while (pos < buf.length) {
      const end = scanner.findEnd(buf, pos);
      if (end === -1) {
        take(buf.subarray(pos));
        break;
      }
      take(buf.subarray(pos, end));
      yield finish();
      pos = end + 1;
    }
  }
  if (started) yield finish();
}
