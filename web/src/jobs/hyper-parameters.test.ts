import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { CreateJobInput, LoraSettings, TargetModule, TrainingSettings } from "../../../core/jobs/model.ts";
import { DEFAULT_BASE_MODEL, DEFAULT_TARGET_MODULES, NUMBER_FIELDS, TARGET_MODULES, fieldId, settingsFromInputs } from "./hyper-parameters.ts";

type NumberSchema = z.ZodNumber & { minValue: number | null; maxValue: number | null; isInt: boolean };

/** The number schema behind a field, unwrapping `.default()` and `.optional()`. */
function numberSchema(group: "lora" | "training", key: string): NumberSchema {
  const shape = (group === "lora" ? LoraSettings.shape : TrainingSettings.shape) as Record<string, z.ZodType>;
  const schema = shape[key] as unknown as { unwrap(): NumberSchema } | undefined;
  if (!schema) throw new Error(`${group}.${key} is not in the API's schema`);
  return schema.unwrap();
}

describe("hyper-parameters", () => {
  it("shows exactly the API's defaults", () => {
    const lora = LoraSettings.parse({});
    const training = TrainingSettings.parse({});
    for (const f of NUMBER_FIELDS) {
      const expected = (f.group === "lora" ? lora : training)[f.key as never];
      expect(f.default, `${f.group}.${f.key}`).toBe(expected);
    }
    expect([...DEFAULT_TARGET_MODULES]).toEqual(lora.targetModules);
    expect(DEFAULT_BASE_MODEL).toBe(CreateJobInput.parse({ datanets: [{ id: "dn_1", version: 1 }] }).baseModel);
  });

  it("has every numeric API setting, with its bounds and integer-ness", () => {
    const keys = NUMBER_FIELDS.map((f) => `${f.group}.${f.key}`).sort();
    const apiKeys = [
      ...Object.keys(LoraSettings.shape).filter((k) => k !== "targetModules").map((k) => `lora.${k}`),
      ...Object.keys(TrainingSettings.shape).map((k) => `training.${k}`),
    ].sort();
    expect(keys).toEqual(apiKeys);
    for (const f of NUMBER_FIELDS) {
      const s = numberSchema(f.group, f.key);
      expect([f.min, f.max, f.integer], `${f.group}.${f.key}`).toEqual([s.minValue, s.maxValue, s.isInt]);
      // An exclusive minimum is one the schema itself refuses.
      expect(s.safeParse(f.min).success, `${f.group}.${f.key} at its min`).toBe(!f.exclusiveMin);
    }
    expect(TARGET_MODULES.map(([m]) => m)).toEqual(TargetModule.options);
  });

  it("leaves empty fields out, so the API fills its defaults", () => {
    const values = new Map([
      [fieldId("lora", "rank"), "4"],
      [fieldId("training", "maxSteps"), " 15 "],
      [fieldId("training", "epochs"), ""],
      [fieldId("training", "learningRate"), "abc"],
    ]);
    expect(settingsFromInputs(values, ["q_proj", "v_proj"])).toEqual({
      lora: { rank: 4, targetModules: ["q_proj", "v_proj"] },
      training: { maxSteps: 15, learningRate: "abc" },
    });
  });
});
