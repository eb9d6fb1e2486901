import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256OfBlob } from "./hash-file.ts";

describe("sha256OfBlob", () => {
  it("matches node:crypto when the file spans many slices, with progress reaching 1", async () => {
    // Prepare: 100 KiB + 7 bytes hashed in 4 KiB slices, so the tail slice is partial.
    const bytes = randomBytes(100 * 1024 + 7);
    const progress: number[] = [];
    // Act
    const hex = await sha256OfBlob(new Blob([bytes]), (f) => progress.push(f), undefined, 4096);
    // Assess
    expect(hex).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(progress.length).toBe(1 + Math.ceil(bytes.length / 4096));
    expect(progress.at(-1)).toBe(1);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
  });

  it("hashes an empty file", async () => {
    expect(await sha256OfBlob(new Blob([]))).toBe(createHash("sha256").digest("hex"));
  });

  it("stops when aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(sha256OfBlob(new Blob([randomBytes(10)]), undefined, controller.signal)).rejects.toThrow();
  });
});
