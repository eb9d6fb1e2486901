import { describe, expect, it } from "vitest";
import { formatBps, formatBytes, formatCount, formatDuration, formatMetric, parseTags, shortHex } from "./format.ts";

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

describe("fine-tune formats", () => {
  it("formats durations, basis points and metrics", () => {
    expect(formatDuration(42.4)).toBe("42 s");
    expect(formatDuration(185)).toBe("3 min 05 s");
    expect(formatDuration(3720)).toBe("1 h 02 min");
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(-1)).toBe("—");
    expect(formatBps(3333)).toBe("33.33%");
    expect(formatBps(10_000)).toBe("100.00%");
    expect(formatMetric(2.34567)).toBe("2.346");
    expect(formatMetric(null)).toBe("—");
  });
});
