import { describe, expect, it } from "vitest";
import { csvScanner, splitRecords } from "./split-records.ts";
import { chunked, collect, withHugeLine } from "./test-sources.ts";

const text = (r: { bytes?: Buffer }) => r.bytes?.toString();

describe("splitRecords", () => {
  it("splits lines across chunk borders, drops CR of CRLF and keeps a last line without newline", async () => {
    const records = await collect(splitRecords(chunked("one\r\ntwo\n\nthree", 2), 100));
    expect(records.map((r) => [r.line, text(r)])).toEqual([
      [1, "one"],
      [2, "two"],
      [3, ""],
      [4, "three"],
    ]);
  });

  it("reports an over-long line once and carries on with the next", async () => {
    const records = await collect(splitRecords(chunked("short\n" + "x".repeat(50) + "\nnext\n", 8), 10));
    expect(records).toEqual([
      { line: 1, bytes: Buffer.from("short") },
      { line: 2, tooLong: true },
      { line: 3, bytes: Buffer.from("next") },
    ]);
  });

  it("accepts a line of exactly the limit, CRLF included", async () => {
    const records = await collect(splitRecords(chunked("abcd\r\nabcde\n", 3), 4));
    expect(records).toEqual([{ line: 1, bytes: Buffer.from("abcd") }, { line: 2, tooLong: true }]);
  });

  it("skips a 50 MB line without buffering it and reads what follows", async () => {
    const records = await collect(splitRecords(withHugeLine("first\n", 50 * 1024 ** 2, "after\n", false), 1024 ** 2));
    expect(records.map((r) => [r.line, r.tooLong ?? text(r)])).toEqual([
      [1, "first"],
      [2, true],
      [3, "after"],
    ]);
  });

  it("keeps quoted CSV newlines inside the record and counts the lines they span", async () => {
    const csv = 'a,b\n"multi\nline",x\n"say ""hi""\n",y\nplain,"z"\n';
    const records = await collect(splitRecords(chunked(csv, 3), 100, csvScanner()));
    expect(records.map((r) => [r.line, text(r)])).toEqual([
      [1, "a,b"],
      [2, '"multi\nline",x'],
      [4, '"say ""hi""\n",y'],
      [6, 'plain,"z"'],
    ]);
  });

  it("does not let a stray quote inside an unquoted CSV field swallow later lines", async () => {
    const records = await collect(splitRecords(chunked('ab"c,d\nnext,row\n'), 100, csvScanner()));
    expect(records.map(text)).toEqual(['ab"c,d', "next,row"]);
  });
});
