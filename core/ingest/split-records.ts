/**
 * Byte-level record splitting for streamed uploads. A record is a line (JSONL,
 * plain text) or a CSV record, which may span lines inside quotes. At most
 * `maxBytes` of one record are ever held: a longer record is reported once as
 * `tooLong` and the rest of it is skipped as it streams past, never buffered.
 *
 * A malformed file never loses the valid records in it: a CSV record that
 * spans lines inside a quoted field costs only its first physical line when
 * that quote is still open at `maxBytes` or at the end of the input, or when
 * the record's quoting breaks later (`"a"b`, `ab"c`): most likely its first
 * line held a stray quote. That line is reported as a record of its own and
 * parsing resumes at the next line, from the bytes already held (at most
 * `maxBytes`). Each byte is scanned again at most once however the quotes
 * fall (see `cut`).
 */

/** One record's raw bytes, without its line terminator (`\n` or `\r\n`). */
export interface RawRecord {
  /** 1-based line on which the record starts. */
  line: number;
  /** The record's bytes; absent when the record was too long. */
  bytes?: Buffer;
  tooLong?: true;
  /** Where the next record starts: a byte offset in the stream and its line (a split can resume there). */
  next: Position;
}

/** A record boundary: an absolute byte offset in the whole stream and the 1-based line starting there. */
export interface Position {
  offset: number;
  line: number;
}

/** Finds line breaks and whether they lie inside a quoted field (CSV); holds the quoting state. */
export interface RecordScanner {
  /**
   * Index of the next `\n` in `buf[from, to)` or of the next byte that breaks
   * the quoting rules (`malformed` then says which), or -1. After a `\n`,
   * `quoted` says whether it lies inside a quoted field.
   */
  nextBreak(buf: Buffer, from: number, to: number): number;
  /** Whether the bytes scanned so far leave the record inside a quoted field. */
  readonly quoted: boolean;
  /** Whether they leave it inside a quoted field or just after a quote in one (which may close it). */
  readonly open: boolean;
  /** Whether the last stop was at a byte breaking the quoting rules (`"a"b`, `ab"c`) rather than at a `\n`. */
  malformed: boolean;
  /** Back to the start of a record. */
  reset(): void;
  /** The quoting state, to save and restore. */
  state: number;
}

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

/** Records are lines: each `\n` ends one. */
export function lineScanner(): RecordScanner {
  return {
    nextBreak(buf, from, to) {
      const i = buf.indexOf(LF, from);
      return i !== -1 && i < to ? i : -1;
    },
    quoted: false,
    open: false,
    malformed: false,
    reset() {},
    state: 0,
  };
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
  return {
    state: FIELD_START,
    malformed: false,
    get quoted() {
      return this.state === QUOTED;
    },
    get open() {
      return this.state === QUOTED || this.state === QUOTE_IN_QUOTED;
    },
    nextBreak(buf, from, to) {
      let state = this.state;
      this.malformed = false;
      try {
        for (let i = from; i < to; i++) {
          const c = buf[i]!;
          switch (state) {
            case FIELD_START:
              if (c === LF) return i;
              if (c === QUOTE) state = QUOTED;
              else if (c !== delimiter) state = UNQUOTED;
              break;
            case UNQUOTED:
              if (c === LF) return i;
              if (c === delimiter) state = FIELD_START;
              else if (c === QUOTE) {
                this.malformed = true; // a quote inside an unquoted field
                return i;
              }
              break;
            case QUOTED:
              if (c === QUOTE) state = QUOTE_IN_QUOTED;
              else if (c === LF) return i;
              break;
            case QUOTE_IN_QUOTED:
              if (c === LF) return i;
              if (c === QUOTE) state = QUOTED;
              else if (c === delimiter) state = FIELD_START;
              else {
                // `"a"b`: the field parser reports it; `\r` may still end the line.
                state = UNQUOTED;
                if (c !== CR) {
                  this.malformed = true;
                  return i;
                }
              }
              break;
          }
        }
        return -1;
      } finally {
        this.state = state;
      }
    },
    reset() {
      this.state = FIELD_START;
      this.malformed = false;
    },
  };
}

/** Splits a byte stream into records; see the module comment for the memory bound. */
export async function* splitRecords(
  source: AsyncIterable<Uint8Array | string>,
  maxBytes: number,
  scanner: RecordScanner = lineScanner(),
  from: Position = { offset: 0, line: 1 },
): AsyncGenerator<RawRecord> {
  // `source` starts at `from` (a record boundary an earlier split reported): the records are the same as a full split's from there.
  const splitter = new RecordSplitter(maxBytes, scanner, from);
  for await (const chunk of source) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    splitter.push(buf);
    yield* splitter.take();
  }
  splitter.end();
  yield* splitter.take();
}

/**
 * The splitting state machine. Offsets are absolute positions in the stream.
 * Bytes are held from the current record's start (or, while skipping a too
 * long record, from the scan position) to the end of the input received.
 */
class RecordSplitter {
  readonly #max: number;
  readonly #scanner: RecordScanner;
  #out: RawRecord[] = [];
  /** Received bytes not yet dropped: `#held[0]` starts at `#heldFrom`. */
  #held: Buffer[] = [];
  #heldFrom = 0;
  /** Bytes received. */
  #end = 0;
  /** Bytes scanned for the current record. */
  #pos = 0;
  /** Where the current record starts, and its line. */
  #start = 0;
  #line = 1;
  /** The `\n`s inside quoted fields of the current record, from `#breaks[#head]` on. */
  #breaks: number[] = [];
  #head = 0;
  /** The current record is too long: its bytes are dropped until the next `\n`. */
  #skipping = false;

  constructor(maxBytes: number, scanner: RecordScanner, from: Position) {
    this.#max = maxBytes;
    this.#scanner = scanner;
    this.#heldFrom = this.#end = this.#pos = this.#start = from.offset;
    this.#line = from.line;
  }

  push(buf: Buffer): void {
    if (buf.length === 0) return;
    this.#held.push(buf);
    this.#end += buf.length;
    this.#scan();
  }

  end(): void {
    // An open quote at the end of the input: its first line is not part of a later record after all.
    while (!this.#skipping && this.#scanner.quoted && this.#breaks.length > this.#head) this.#cut();
    if (this.#skipping || this.#end > this.#start) this.#endRecord(this.#end);
  }

  /** The records completed so far. */
  take(): RawRecord[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #scan(): void {
    const scanner = this.#scanner;
    for (;;) {
      // A record that has `maxBytes + 2` bytes and no end yet is too long (the
      // terminator's `\r` does not count): the decision falls at exactly that
      // byte, so it does not depend on how the input is chunked.
      if (!this.#skipping && this.#pos - this.#start >= this.#max + 2) {
        if (scanner.open && this.#breaks.length > this.#head) {
          this.#cut();
        } else {
          this.#skipping = true;
          this.#drop(this.#pos);
        }
        continue;
      }
      if (this.#pos >= this.#end) return;
      const [buf, at] = this.#locate(this.#pos);
      const to = this.#skipping ? buf.length : Math.min(buf.length, this.#start + this.#max + 2 - at);
      const lf = scanner.nextBreak(buf, this.#pos - at, to);
      if (lf === -1) {
        this.#pos = at + to;
      } else if (scanner.malformed) {
        this.#pos = at + lf + 1;
        // A record spanning lines whose quoting then breaks: its first line
        // most likely opened a quote by mistake (cut again while the rescan
        // lands in the same state, see `cut`).
        while (!this.#skipping && this.#breaks.length > this.#head) this.#cut();
      } else if (scanner.quoted && !this.#skipping) {
        this.#breaks.push(at + lf);
        this.#pos = at + lf + 1;
      } else {
        // A record ends at a `\n` outside quotes; a skipped one at any `\n`.
        this.#pos = at + lf + 1;
        this.#endRecord(at + lf);
      }
    }
  }

  /**
   * Gives up on the open quote of the current record: its first line becomes
   * a record of its own, and the bytes after it are scanned again from a
   * record start, up to where the scan had got. That second scan stops early:
   * once it meets a `\n` inside quotes it is in the same state as the first
   * scan was there (both inside a quoted field), so from there on it would
   * repeat the first scan, whose end state and quoted `\n`s carry over. The bytes
   * scanned again end up in a record reported by this cut or by the next
   * one, so each byte is scanned again at most once, not once per cut.
   */
  #cut(): void {
    const scanner = this.#scanner;
    const firstBreak = this.#breaks[this.#head++]!;
    if (this.#head > 4096 && this.#head * 2 > this.#breaks.length) {
      // A long run of cuts: forget the breaks already behind us.
      this.#breaks = this.#breaks.slice(this.#head);
      this.#head = 0;
    }
    this.#emit(this.#start, firstBreak, 0);
    this.#start = firstBreak + 1;
    this.#drop(this.#start);
    const reached = this.#pos;
    const reachedState = scanner.state;
    scanner.reset();
    let p = this.#start;
    while (p < reached) {
      const [buf, at] = this.#locate(p);
      const lf = scanner.nextBreak(buf, p - at, Math.min(buf.length, reached - at));
      if (lf === -1) {
        p = Math.min(at + buf.length, reached);
        continue;
      }
      if (scanner.malformed) {
        p = at + lf + 1; // a one-line record so far: the field parser reports it
        continue;
      }
      // Every `\n` here is one of the first scan's quoted breaks, in order.
      if (scanner.quoted) {
        scanner.state = reachedState;
        return;
      }
      this.#head++;
      this.#emit(this.#start, at + lf, 0);
      this.#start = at + lf + 1;
      this.#drop(this.#start);
      scanner.reset();
      p = this.#start;
    }
    if (this.#head !== this.#breaks.length) throw new Error("splitRecords: rescan lost track of line breaks");
  }

  /** Ends the current record at `to` (its terminating `\n`, or the end of the input). */
  #endRecord(to: number): void {
    const inner = this.#breaks.length - this.#head;
    if (this.#skipping) {
      this.#line += 1 + inner;
      this.#out.push({ line: this.#line - 1 - inner, tooLong: true, next: { offset: to + 1, line: this.#line } });
    } else {
      this.#emit(this.#start, to, inner);
    }
    this.#breaks = [];
    this.#head = 0;
    this.#skipping = false;
    this.#start = Math.min(to + 1, this.#end);
    this.#pos = Math.max(this.#pos, this.#start);
    this.#scanner.reset();
    this.#drop(this.#start);
  }

  /** Reports the bytes `[from, to)` as a record spanning `1 + inner` lines. */
  #emit(from: number, to: number, inner: number): void {
    let bytes = this.#slice(from, to);
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    const line = this.#line;
    this.#line += 1 + inner;
    const next = { offset: to + 1, line: this.#line };
    this.#out.push(bytes.length > this.#max ? { line, tooLong: true, next } : { line, bytes, next });
  }

  /** The held buffer that contains offset `offset`, and that buffer's own offset. */
  #locate(offset: number): [Buffer, number] {
    let at = this.#heldFrom;
    for (const buf of this.#held) {
      if (offset < at + buf.length) return [buf, at];
      at += buf.length;
    }
    throw new Error(`splitRecords: offset ${offset} is not held`);
  }

  #slice(from: number, to: number): Buffer {
    const parts: Buffer[] = [];
    let at = this.#heldFrom;
    for (const buf of this.#held) {
      if (at >= to) break;
      const end = at + buf.length;
      if (end > from) parts.push(buf.subarray(Math.max(0, from - at), Math.min(buf.length, to - at)));
      at = end;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Forgets the bytes before `offset`. */
  #drop(offset: number): void {
    while (this.#held.length > 0 && this.#heldFrom < offset) {
      const first = this.#held[0]!;
      if (this.#heldFrom + first.length <= offset) {
        this.#held.shift();
        this.#heldFrom += first.length;
      } else {
        this.#held[0] = first.subarray(offset - this.#heldFrom);
        this.#heldFrom = offset;
      }
    }
  }
}
