import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BASE_MODEL_DIR } from "../containers/engine/index.ts";
import { MemoryBlobStore } from "../test/fakes/memory-blob-store.ts";
import { ensureBaseModelsInBlobStore } from "./base-models.ts";

describe("ensureBaseModelsInBlobStore", () => {
  it("copies the files into the blob store once", async () => {
    const blobs = new MemoryBlobStore();
    const first = await ensureBaseModelsInBlobStore({ blobs });
    expect(first).toContain("base-models/mf-tiny-sotu/model.safetensors");
    expect(first).toContain("base-models/mf-tiny-sotu/tokenizer.json");
    expect(blobs.blobs.get("base-models/mf-tiny-sotu/model.safetensors")!.bytes.equals(readFileSync(join(BASE_MODEL_DIR, "model.safetensors")))).toBe(true);
    expect(await ensureBaseModelsInBlobStore({ blobs })).toEqual([]);
  });
});
