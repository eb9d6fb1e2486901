import { CsvError, parse } from "csv-parse/sync";
import { decodeUtf8, INVALID_UTF8 } from "./decode-utf8.ts";
import type { ByteSource, ParseOptions, ParsedRecord } from "./parsed-record.ts";
import { tooLongReason } from "./parsed-record.ts";
import { csvScanner, splitRecords } from "./split-records.ts";

export interface CsvParseOptions extends ParseOptions {
  /** Columns whose cells hold JSON (e.g. a chat Datanet's `messages`). */
  jsonColumns?: readonly string[];
  /** The header an earlier parse read, when resuming after it (`from`). */
  header?: string[];
  /** Told the header's column names once it is read, so a resumed parse can be given them. */
  onHeader?: (names: string[]) => void;
}

/**
 * CSV with a header row: each later record becomes an object keyed by the
 * header's column names; empty cells are left out. Record boundaries are
 * found by our own byte-level scanner (bounded memory, skip-and-continue for
 * over-long records); csv-parse then reads the fields of each record. We do
 * not stream through csv-parse itself because with `max_record_size` and
 * `skip_records_with_error` it drops the rest of the file after the first
 * over-long record (seen with csv-parse 7.0.3).
 */
export async function* parseCsv(source: ByteSource, options: CsvParseOptions): AsyncGenerator<ParsedRecord> {
  const jsonColumns = new Set(options.jsonColumns ?? []);
  let header: string[] | undefined = options.header;
  let headerError: string | undefined;
  for await (const raw of splitRecords(source, options.maxRecordBytes, csvScanner(), options.from)) {
    if (raw.tooLong) {
      if (!header && !headerError) headerError = `CSV header on line ${raw.line} is too long`;
      yield { line: raw.line, next: raw.next, error: tooLongReason(options.maxRecordBytes) };
      continue;
    }
    const text = decodeUtf8(raw.bytes!);
    if (text === undefined) {
      if (!header && !headerError) headerError = `CSV header on line ${raw.line} is not valid UTF-8`;
      yield { line: raw.line, next: raw.next, error: INVALID_UTF8 };
      continue;
    }
    if (text.trim() === "") continue;
    const fields = parseFields(text);
    if (typeof fields === "string") {
      if (!header && !headerError) headerError = `CSV header on line ${raw.line} is malformed`;
      yield { line: raw.line, next: raw.next, error: fields };
      continue;
    }
    if (!header && !headerError) {
      const names = fields.map((f) => f.trim());
      const problem = headerProblem(names);
      if (problem) {
        headerError = `CSV header on line ${raw.line} ${problem}`;
        yield { line: raw.line, next: raw.next, error: headerError };
      } else {
        header = names;
        options.onHeader?.(names);
      }
      continue;
    }
    if (!header) {
      yield { line: raw.line, next: raw.next, error: `no usable header: ${headerError}` };
      continue;
    }
    if (fields.length !== header.length) {
      yield { line: raw.line, next: raw.next, error: `row has ${fields.length} fields, header has ${header.length}` };
      continue;
    }
    yield { ...toRecord(raw.line, header, fields, jsonColumns), next: raw.next };
  }
}

function toRecord(line: number, header: string[], fields: string[], jsonColumns: Set<string>): Omit<ParsedRecord, "next"> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i < header.length; i++) {
    const name = header[i]!;
    const cell = fields[i]!;
    if (cell.trim() === "") continue;
    if (jsonColumns.has(name)) {
      try {
        record[name] = JSON.parse(cell);
      } catch (error) {
        return { line, error: `invalid JSON in column "${name}": ${(error as Error).message.slice(0, 200)}` };
      }
    } else {
      record[name] = cell;
    }
  }
  return { line, record };
}

function headerProblem(names: string[]): string | undefined {
  if (names.some((n) => n === "")) return "has an empty column name";
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) return `repeats column "${n}"`;
    seen.add(n);
  }
  return undefined;
}

/** The fields of one record, or a short reason why it is not valid CSV. */
function parseFields(text: string): string[] | string {
  try {
    const rows = parse(text, { record_delimiter: "\n", relax_column_count: true }) as string[][];
    if (rows.length !== 1) return "invalid CSV: expected one record";
    return rows[0]!;
  } catch (error) {
    if (error instanceof CsvError) return csvReason(error.code);
    throw error;
  }
}

function csvReason(code: string): string {
  switch (code) {
    case "INVALID_OPENING_QUOTE":
      return "invalid CSV: quote inside an unquoted field";
    case "CSV_INVALID_CLOSING_QUOTE":
      return "invalid CSV: unexpected character after a closing quote";
    case "CSV_QUOTE_NOT_CLOSED":
      return "invalid CSV: quote not closed";
    default:
      return `invalid CSV: ${code}`;
  }
}
