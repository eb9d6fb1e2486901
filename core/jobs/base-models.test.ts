import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BASE_MODEL_DIR } from "../../containers/engine/index.ts";
import { BaseModel, getBaseModel, listBaseModels } from "./base-models.ts";

describe("base models", () => {
  it("lists the committed model with the sha256 of its weights and its real shape", () => {
    const [model] = listBaseModels();
    expect(BaseModel.parse(model)).toEqual(model);
    const weights = readFileSync(join(BASE_MODEL_DIR, "model.safetensors"));
    expect(model!.sha256).toBe(`0x${createHash("sha256").update(weights).digest("hex")}`);
    const config = JSON.parse(readFileSync(join(BASE_MODEL_DIR, "config.json"), "utf8")) as { hidden_size: number; max_position_embeddings: number };
    expect(model!.hiddenSize).toBe(config.hidden_size);
    expect(model!.contextLength).toBe(config.max_position_embeddings);
    expect(getBaseModel("mf-tiny-sotu")).toEqual(model);
    expect(getBaseModel("gpt-5")).toBeUndefined();
  });
});
