import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { CreateJobInput, LoraSettings, TargetModule, TrainingSettings } from "../../../core/jobs/model.ts";
import { DEFAULT_BASE_MODEL, DEFAULT_TARGET_MODULES, NUMBER_FIELDS, TARGET_MODULES, checkNumber, fieldAt, fieldId, settingsFromInputs } from "./hyper-parameters.ts";

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
    // Numeric settings only: the others (target modules, enums) have controls of their own.
    const isNumber = (schema: unknown) => (schema as { unwrap?: () => { def: { type: string } } }).unwrap?.().def.type === "number";
    const apiKeys = [
      ...Object.entries(LoraSettings.shape).filter(([, v]) => isNumber(v)).map(([k]) => `lora.${k}`),
      ...Object.entries(TrainingSettings.shape).filter(([, v]) => isNumber(v)).map(([k]) => `training.${k}`),
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

describe("checkNumber", () => {
  const rank = NUMBER_FIELDS.find((f) => f.key === "rank")!;
  const lr = NUMBER_FIELDS.find((f) => f.key === "learningRate")!;

  it("agrees with the API's schema on every bound", () => {
    for (const f of NUMBER_FIELDS) {
      const s = numberSchema(f.group, f.key);
      for (const v of [f.min - 1, f.min, f.min + 0.5, f.max, f.max + 1, (f.min + f.max) / 2]) {
        expect(checkNumber(f, String(v)) === undefined, `${f.group}.${f.key} = ${v}`).toBe(s.safeParse(v).success);
      }
    }
  });

  it("says what is wrong in the field's own words", () => {
    expect(checkNumber(rank, "500")).toBe("Rank (r) must be a whole number from 1 to 256.");
    expect(checkNumber(rank, "2.5")).toBe("Rank (r) must be a whole number from 1 to 256.");
    expect(checkNumber(lr, "-1")).toBe("Learning rate must be a number above 0 and at most 1.");
    expect(checkNumber(lr, "abc")).toMatch(/must be a number/);
    expect(checkNumber(lr, "")).toBeUndefined();
    expect(fieldAt("training.learningRate")).toBe(lr);
    expect(fieldAt("training.nope")).toBeUndefined();
  });
});
