import { describe, expect, it } from "vitest";
import { getBaseModel } from "../../core/jobs/base-models.ts";
import { BASE_MODEL_DIR } from "../engine/index.ts";
import { bundledModelDir } from "./blob-files.ts";

describe("bundledModelDir", () => {
  it("uses the engine's committed base model when the job names its weights, and nothing else", async () => {
    const catalog = getBaseModel("mf-tiny-sotu")!;
    expect(await bundledModelDir(catalog.sha256)).toBe(BASE_MODEL_DIR);
    expect(await bundledModelDir(`0x${"0".repeat(64)}`)).toBeUndefined();
    expect(await bundledModelDir(catalog.sha256, "/nonexistent")).toBeUndefined();
  });
});
