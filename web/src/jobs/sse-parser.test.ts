import { describe, expect, it } from "vitest";
import { SseParser } from "./sse-parser.ts";

describe("SseParser", () => {
  it("parses named events with ids, retry and multi-line data", () => {
    const p = new SseParser();
    const events = p.push('event: job\nid: 3\nretry: 1000\ndata: {"a":1}\n\ndata: one\ndata: two\n\n');
    expect(events).toEqual([
      { event: "job", data: '{"a":1}', id: "3" },
      { event: "message", data: "one\ntwo", id: "3" },
    ]);
    expect(p.lastEventId).toBe("3");
    expect(p.retry).toBe(1000);
  });

  it("waits for the end of a line split across chunks, CRLF included", () => {
    const p = new SseParser();
    expect(p.push("event: progress\r\nda")).toEqual([]);
    expect(p.push("ta: x\r")).toEqual([]);
    expect(p.push("\n\r\n")).toEqual([{ event: "progress", data: "x", id: undefined }]);
  });

  it("ignores comments, unknown fields and events without data", () => {
    const p = new SseParser();
    expect(p.push(": keep-alive\n\nevent: lonely\n\nfoo: bar\ndata:no-space\n\n")).toEqual([{ event: "message", data: "no-space", id: undefined }]);
  });

  it("keeps the last id and ignores a non-numeric retry", () => {
    const p = new SseParser();
    p.push("id: 7\nretry: soon\ndata: a\n\nid: 8\n\n");
    expect(p.lastEventId).toBe("8");
    expect(p.retry).toBeUndefined();
  });
});
