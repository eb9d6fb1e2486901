import { describe, expect, it } from "vitest";
import { parseCsv } from "./parse-csv.ts";
import { chunked, collect, collectRecords } from "./test-sources.ts";

const options = { maxRecordBytes: 200 };

describe("parseCsv", () => {
  it("maps columns to fields by the header, with quoted newlines, escaped quotes and empty cells left out", async () => {
    const csv = 'instruction,input,output\r\nTranslate,"Hallo\r\nWelt","Hello ""world"""\r\nSum,,4\r\n';
    const records = await collectRecords(parseCsv(chunked(csv, 5), options));
    expect(records).toEqual([
      { line: 2, record: { instruction: "Translate", input: "Hallo\r\nWelt", output: 'Hello "world"' } },
      { line: 4, record: { instruction: "Sum", output: "4" } },
    ]);
  });

  it("reports malformed rows with their line and keeps parsing", async () => {
    const csv = ['text,license', 'good,MIT', 'too,many,fields', 'short', 'ab"c"d,MIT', '"bad"x,MIT', 'fine,MIT', '"never closed,MIT', 'kept,MIT', 'x,"y"', 'end'].join("\n");
    const records = await collectRecords(parseCsv(chunked(csv), options));
    expect(records).toEqual([
      { line: 2, record: { text: "good", license: "MIT" } },
      { line: 3, error: "row has 3 fields, header has 2" },
      { line: 4, error: "row has 1 fields, header has 2" },
      { line: 5, error: "invalid CSV: quote inside an unquoted field" },
      { line: 6, error: "invalid CSV: unexpected character after a closing quote" },
      { line: 7, record: { text: "fine", license: "MIT" } },
      // A quote that never closes costs its own line only: the rows after it are read as rows.
      { line: 8, error: "invalid CSV: quote not closed" },
      { line: 9, record: { text: "kept", license: "MIT" } },
      { line: 10, record: { text: "x", license: "y" } },
      { line: 11, error: "row has 1 fields, header has 2" },
    ]);
  });

  it("skips an over-long record and goes on", async () => {
    const csv = `text\nbefore\n"${"x".repeat(500)}"\nafter\n`;
    const records = await collectRecords(parseCsv(chunked(csv, 64), options));
    expect(records).toEqual([
      { line: 2, record: { text: "before" } },
      { line: 3, error: "record exceeds 200 bytes" },
      { line: 4, record: { text: "after" } },
    ]);
  });

  it("gives up a quoted field still open at the record limit after its first line, and reads the lines after it", async () => {
    const csv = `text\nbefore\n"${"x".repeat(50)}\n${"y\n".repeat(100)}after\n`;
    const records = await collectRecords(parseCsv(chunked(csv, 64), options));
    expect(records[0]).toEqual({ line: 2, record: { text: "before" } });
    expect(records[1]).toEqual({ line: 3, error: "invalid CSV: quote not closed" });
    expect(records.slice(2)).toEqual([...Array.from({ length: 100 }, (_, i) => ({ line: 4 + i, record: { text: "y" } })), { line: 104, record: { text: "after" } }]);
  });

  it("never loses the valid rows after a stray quote: header, a row starting with a quote, then 10,000 rows", async () => {
    const csv = ["text,license", '"oops,MIT', ...Array.from({ length: 10_000 }, (_, i) => `row ${i},MIT`)].join("\n") + "\n";
    const records = await collectRecords(parseCsv(chunked(csv, 64 * 1024), { maxRecordBytes: 1024 ** 2 }));
    expect(records.filter((r) => r.error)).toEqual([{ line: 2, error: "invalid CSV: quote not closed" }]);
    expect(records.filter((r) => r.record)).toHaveLength(10_000);
  });

  it("rejects invalid UTF-8 in a row", async () => {
    const bytes = Buffer.concat([Buffer.from("text\nok\n"), Buffer.from([0xe2, 0x82, 0x0a]), Buffer.from("end\n")]);
    expect(await collectRecords(parseCsv(chunked(bytes), options))).toEqual([
      { line: 2, record: { text: "ok" } },
      { line: 3, error: "invalid UTF-8" },
      { line: 4, record: { text: "end" } },
    ]);
  });

  it("parses JSON columns for chat Datanets", async () => {
    const csv = 'messages\n"[{""role"":""user"",""content"":""hi""}]"\n"[oops"\n';
    const records = await collectRecords(parseCsv(chunked(csv), { ...options, jsonColumns: ["messages"] }));
    expect(records[0]).toEqual({ line: 2, record: { messages: [{ role: "user", content: "hi" }] } });
    expect(records[1]!.line).toBe(3);
    expect(records[1]!.error).toMatch(/^invalid JSON in column "messages": /);
  });

  it("rejects every row when the header is unusable", async () => {
    const records = await collectRecords(parseCsv(chunked("text,text\na,b\n"), options));
    expect(records).toEqual([
      { line: 1, error: 'CSV header on line 1 repeats column "text"' },
      { line: 2, error: 'no usable header: CSV header on line 1 repeats column "text"' },
    ]);
  });
});
