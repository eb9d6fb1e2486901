import { decodeUtf8, INVALID_UTF8 } from "./decode-utf8.ts";
import type { ByteSource, ParseOptions, ParsedRecord } from "./parsed-record.ts";
import { tooLongReason } from "./parsed-record.ts";
import { splitRecords } from "./split-records.ts";

/** Plain text: each non-blank line is one `{ text }` record (text Datanets only). */
export async function* parseText(source: ByteSource, options: ParseOptions): AsyncGenerator<ParsedRecord> {
  for await (const raw of splitRecords(source, options.maxRecordBytes, undefined, options.from)) {
    if (raw.tooLong) {
      yield { line: raw.line, next: raw.next, error: tooLongReason(options.maxRecordBytes) };
      continue;
    }
    const text = decodeUtf8(raw.bytes!);
    if (text === undefined) yield { line: raw.line, next: raw.next, error: INVALID_UTF8 };
    else if (text.trim() !== "") yield { line: raw.line, next: raw.next, record: { text } };
  }
}
