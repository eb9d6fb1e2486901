import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, parseTags, shortHex } from "./format.ts";

describe("format", () => {
  it("shortens long hex but leaves short strings", () => {
    expect(shortHex("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")).toBe("0x7099…79C8");
    expect(shortHex("0x1234")).toBe("0x1234");
  });

  it("formats sizes and counts", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(50 * 1024 * 1024)).toBe("50 MiB");
    expect(formatCount(1234567)).toBe("1,234,567");
  });

  it("splits, lower-cases and dedupes tags", () => {
    expect(parseTags(" NLP, legal  nlp,,medical ")).toEqual(["nlp", "legal", "medical"]);
    expect(parseTags("   ")).toEqual([]);
  });
});
