import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import { stageModel } from "./stage-model.ts";

describe("stageModel", () => {
  it("copies the model's files (not nested ones) to the directory, and refuses an empty prefix", async () => {
    const blobs = new MemoryBlobStore();
    await blobs.put("base-models/m/config.json", "{}");
    await blobs.put("base-models/m/model.safetensors", new Uint8Array([1, 2, 3]));
    await blobs.put("base-models/m/extra/ignored.bin", "x");
    const root = mkdtempSync(join(tmpdir(), "stage-")), dir = join(root, "base");
    try {
      expect(await stageModel(blobs, "base-models/m/", dir)).toHaveLength(2);
      expect([...readFileSync(join(dir, "model.safetensors"))]).toEqual([1, 2, 3]);
      await expect(stageModel(blobs, "base-models/none/", dir)).rejects.toThrow(/no model files/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
