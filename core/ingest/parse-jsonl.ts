import { decodeUtf8, INVALID_UTF8 } from "./decode-utf8.ts";
import type { ByteSource, ParseOptions, ParsedRecord } from "./parsed-record.ts";
import { tooLongReason } from "./parsed-record.ts";
import { splitRecords } from "./split-records.ts";

/** JSON Lines: one JSON object per line; blank lines are skipped. */
export async function* parseJsonl(source: ByteSource, options: ParseOptions): AsyncGenerator<ParsedRecord> {
  for await (const raw of splitRecords(source, options.maxRecordBytes, undefined, options.from)) {
    if (raw.tooLong) {
      yield { line: raw.line, next: raw.next, error: tooLongReason(options.maxRecordBytes) };
      continue;
    }
    const text = decodeUtf8(raw.bytes!);
    if (text === undefined) {
      yield { line: raw.line, next: raw.next, error: INVALID_UTF8 };
      continue;
    }
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      yield { line: raw.line, next: raw.next, error: `invalid JSON: ${shorten((error as Error).message)}` };
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      yield { line: raw.line, next: raw.next, error: "record must be a JSON object" };
      continue;
    }
    yield { line: raw.line, next: raw.next, record: value };
  }
}

/** V8 quotes the offending text in its message; keep reasons short. */
function shorten(message: string, max = 200): string {
  return message.length > max ? `${message.slice(0, max - 1)}…` : message;
}
