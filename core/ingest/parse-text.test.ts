import { describe, expect, it } from "vitest";
import { parseText } from "./parse-text.ts";
import { chunked, collect, collectRecords } from "./test-sources.ts";

describe("parseText", () => {
  it("makes each non-blank line a text record", async () => {
    const records = await collectRecords(parseText(chunked("\uFEFFfirst line\r\n\n  \nsecond {not json}\n"), { maxRecordBytes: 100 }));
    expect(records).toEqual([
      { line: 1, record: { text: "first line" } },
      { line: 4, record: { text: "second {not json}" } },
    ]);
  });

  it("rejects invalid UTF-8 and over-long lines", async () => {
    const bytes = Buffer.concat([Buffer.from("ok\n"), Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from("y".repeat(20) + "\nend")]);
    const records = await collectRecords(parseText(chunked(bytes, 4), { maxRecordBytes: 10 }));
    expect(records).toEqual([
      { line: 1, record: { text: "ok" } },
      { line: 2, error: "invalid UTF-8" },
      { line: 3, error: "record exceeds 10 bytes" },
      { line: 4, record: { text: "end" } },
    ]);
  });
});
