import { describe, expect, it } from "vitest";
import { parseJsonl } from "./parse-jsonl.ts";
import { chunked, collect, collectRecords, withHugeLine } from "./test-sources.ts";

const options = { maxRecordBytes: 1024 ** 2 };

describe("parseJsonl", () => {
  it("yields one object per line and skips blank lines", async () => {
    const records = await collectRecords(parseJsonl(chunked('{"text":"a"}\n\n  \r\n{"text":"b"}'), options));
    expect(records).toEqual([
      { line: 1, record: { text: "a" } },
      { line: 4, record: { text: "b" } },
    ]);
  });

  it("rejects malformed JSON, non-objects and invalid UTF-8 by line, keeping the valid records", async () => {
    const bad = Buffer.concat([
      Buffer.from('{"text":"ok"}\n{"text": }\n[1,2]\n"str"\n'),
      Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d, 0x0a]),
      Buffer.from('{"text":"last"}\n'),
    ]);
    const records = await collectRecords(parseJsonl(chunked(bad, 5), options));
    expect(records.map((r) => r.line)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(records[0]).toEqual({ line: 1, record: { text: "ok" } });
    expect(records[1]!.error).toMatch(/^invalid JSON: /);
    expect(records[2]!.error).toBe("record must be a JSON object");
    expect(records[3]!.error).toBe("record must be a JSON object");
    expect(records[4]!.error).toBe("invalid UTF-8");
    expect(records[5]).toEqual({ line: 6, record: { text: "last" } });
  });

  it("rejects a single 50 MB line as too long and goes on", async () => {
    const source = withHugeLine('{"text":"before"}\n', 50 * 1024 ** 2, '{"text":"after"}\n');
    const records = await collectRecords(parseJsonl(source, options));
    expect(records).toEqual([
      { line: 1, record: { text: "before" } },
      { line: 2, error: "record exceeds 1048576 bytes" },
      { line: 3, record: { text: "after" } },
    ]);
  });
});
