import { describe, expect, it } from "vitest";
import { parseCsv } from "./parse-csv.ts";
import { chunked, collect } from "./test-sources.ts";

const options = { maxRecordBytes: 200 };

describe("parseCsv", () => {
  it("maps columns to fields by the header, with quoted newlines, escaped quotes and empty cells left out", async () => {
    const csv = 'instruction,input,output\r\nTranslate,"Hallo\r\nWelt","Hello ""world"""\r\nSum,,4\r\n';
    const records = await collect(parseCsv(chunked(csv, 5), options));
    expect(records).toEqual([
      { line: 2, record: { instruction: "Translate", input: "Hallo\r\nWelt", output: 'Hello "world"' } },
      { line: 4, record: { instruction: "Sum", output: "4" } },
    ]);
  });

  it("reports malformed rows with their line and keeps parsing", async () => {
    const csv = ['text,license', 'good,MIT', 'too,many,fields', 'short', 'ab"c"d,MIT', '"bad"x,MIT', 'fine,MIT', '"never closed,MIT', 'lost'].join("\n");
    const records = await collect(parseCsv(chunked(csv), options));
    expect(records).toEqual([
      { line: 2, record: { text: "good", license: "MIT" } },
      { line: 3, error: "row has 3 fields, header has 2" },
      { line: 4, error: "row has 1 fields, header has 2" },
      { line: 5, error: "invalid CSV: quote inside an unquoted field" },
      { line: 6, error: "invalid CSV: unexpected character after a closing quote" },
      { line: 7, record: { text: "fine", license: "MIT" } },
      // An unclosed quote runs to the end of the file, as CSV defines it.
      { line: 8, error: "invalid CSV: quote not closed" },
    ]);
  });

  it("skips an over-long record and goes on", async () => {
    const csv = `text\nbefore\n"${"x".repeat(500)}\n${"y".repeat(500)}"\nafter\n`;
    const records = await collect(parseCsv(chunked(csv, 64), options));
    expect(records).toEqual([
      { line: 2, record: { text: "before" } },
      { line: 3, error: "record exceeds 200 bytes" },
      { line: 5, record: { text: "after" } },
    ]);
  });

  it("rejects invalid UTF-8 in a row", async () => {
    const bytes = Buffer.concat([Buffer.from("text\nok\n"), Buffer.from([0xe2, 0x82, 0x0a]), Buffer.from("end\n")]);
    expect(await collect(parseCsv(chunked(bytes), options))).toEqual([
      { line: 2, record: { text: "ok" } },
      { line: 3, error: "invalid UTF-8" },
      { line: 4, record: { text: "end" } },
    ]);
  });

  it("parses JSON columns for chat Datanets", async () => {
    const csv = 'messages\n"[{""role"":""user"",""content"":""hi""}]"\n"[oops"\n';
    const records = await collect(parseCsv(chunked(csv), { ...options, jsonColumns: ["messages"] }));
    expect(records[0]).toEqual({ line: 2, record: { messages: [{ role: "user", content: "hi" }] } });
    expect(records[1]!.line).toBe(3);
    expect(records[1]!.error).toMatch(/^invalid JSON in column "messages": /);
  });

  it("rejects every row when the header is unusable", async () => {
    const records = await collect(parseCsv(chunked("text,text\na,b\n"), options));
    expect(records).toEqual([
      { line: 1, error: 'CSV header on line 1 repeats column "text"' },
      { line: 2, error: 'no usable header: CSV header on line 1 repeats column "text"' },
    ]);
  });
});
