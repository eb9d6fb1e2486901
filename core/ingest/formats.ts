import type { DatanetSchemaKind } from "../datanets/model.ts";
import { type CsvParseOptions, parseCsv } from "./parse-csv.ts";
import { parseJsonl } from "./parse-jsonl.ts";
import { parseText } from "./parse-text.ts";
import type { ByteSource, ParseOptions, ParsedRecord } from "./parsed-record.ts";

export const UploadFormats = ["jsonl", "csv", "text"] as const;
export type UploadFormat = (typeof UploadFormats)[number];

const byExtension: Record<string, UploadFormat> = {
  jsonl: "jsonl",
  ndjson: "jsonl",
  csv: "csv",
  txt: "text",
  text: "text",
};

const byContentType: Record<string, UploadFormat> = {
  "application/jsonl": "jsonl",
  "application/x-jsonlines": "jsonl",
  "application/jsonlines": "jsonl",
  "application/x-ndjson": "jsonl",
  "application/ndjson": "jsonl",
  "text/jsonl": "jsonl",
  "text/csv": "csv",
  "application/csv": "csv",
  "text/plain": "text",
};

/**
 * The upload's format: the filename's extension first (browsers label
 * `.jsonl` files `text/plain` or `application/octet-stream`), then the
 * content type. Undefined when neither names a supported format.
 */
export function detectFormat(filename: string, contentType: string): UploadFormat | undefined {
  const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase();
  if (ext && byExtension[ext]) return byExtension[ext];
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
  return byContentType[mediaType];
}

/** Why a format cannot feed a Datanet of this schema, or undefined when it can. */
export function formatProblem(format: UploadFormat, schema: DatanetSchemaKind): string | undefined {
  return format === "text" && schema !== "text" ? `plain text uploads only fit "text" Datanets, not "${schema}"` : undefined;
}

/** The records of an upload in the given format, in file order. */
export function parseRecords(
  format: UploadFormat,
  schema: DatanetSchemaKind,
  source: ByteSource,
  options: ParseOptions & Pick<CsvParseOptions, "header" | "onHeader">,
): AsyncGenerator<ParsedRecord> {
  switch (format) {
    case "jsonl":
      return parseJsonl(source, options);
    case "csv":
      return parseCsv(source, { ...options, jsonColumns: schema === "chat" ? ["messages"] : [] });
    case "text":
      return parseText(source, options);
  }
}
