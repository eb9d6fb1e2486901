import { describe, expect, it } from "vitest";
import { detectFormat, formatProblem } from "./formats.ts";

describe("detectFormat", () => {
  it("prefers the file extension, then the content type", () => {
    expect(detectFormat("data.jsonl", "application/octet-stream")).toBe("jsonl");
    expect(detectFormat("data.NDJSON", "text/plain")).toBe("jsonl");
    expect(detectFormat("rows.csv", "application/vnd.ms-excel")).toBe("csv");
    expect(detectFormat("notes.txt", "text/plain")).toBe("text");
    expect(detectFormat("upload", "text/csv; charset=utf-8")).toBe("csv");
    expect(detectFormat("upload", "application/x-ndjson")).toBe("jsonl");
    expect(detectFormat("photo.png", "image/png")).toBeUndefined();
  });

  it("only lets plain text into text Datanets", () => {
    expect(formatProblem("text", "text")).toBeUndefined();
    expect(formatProblem("text", "chat")).toMatch(/only fit "text" Datanets/);
    expect(formatProblem("jsonl", "chat")).toBeUndefined();
  });
});
