/**
 * The fine-tune form's fields: what the API accepts for `lora` and `training`
 * (core/jobs/model.ts), with the API's defaults and bounds. The defaults are
 * read from the API's own schemas (the form's page already loads zod for the
 * recipe it estimates with), so a changed default reaches the form by itself;
 * labels, hints and bounds are plain data, and hyper-parameters.test.ts checks
 * every bound against the schemas, so the two cannot drift apart.
 */

import { CreateJobInput, LoraSettings, TrainingSettings } from "../../../core/jobs/model.ts";

export type SettingsGroup = "lora" | "training";

export interface NumberField {
  group: SettingsGroup;
  key: string;
  label: string;
  hint: string;
  integer: boolean;
  /** Smallest accepted value; `exclusiveMin` when the value must be above it. */
  min: number;
  exclusiveMin?: boolean;
  max: number;
  /** The API's default; undefined when the field is optional with no default. */
  default: number | undefined;
  /** Shown only under the "Advanced" disclosure. */
  advanced: boolean;
}

/** What the API fills in for a job that names nothing: the schemas' own defaults. */
const API_DEFAULTS = { lora: LoraSettings.parse({}), training: TrainingSettings.parse({}) };

/** The base model the API picks when a job names none. */
export const DEFAULT_BASE_MODEL: string = CreateJobInput.shape.baseModel.parse(undefined);

/** PEFT's Llama module names a LoRA adapter may target, in model order. */
export const TARGET_MODULES = [
  ["q_proj", "attention query"],
  ["k_proj", "attention key"],
  ["v_proj", "attention value"],
  ["o_proj", "attention output"],
  ["gate_proj", "MLP gate"],
  ["up_proj", "MLP up"],
  ["down_proj", "MLP down"],
] as const;
export type TargetModuleName = (typeof TARGET_MODULES)[number][0];

/** The API's default target modules. */
export const DEFAULT_TARGET_MODULES: readonly TargetModuleName[] = API_DEFAULTS.lora.targetModules;

/** The numeric settings' labels, hints and bounds, in the order the form shows them. */
const FIELDS: readonly Omit<NumberField, "default">[] = [
  { group: "lora", key: "rank", label: "Rank (r)", hint: "Width of the low-rank update.", integer: true, min: 1, max: 256, advanced: false },
  { group: "lora", key: "alpha", label: "Alpha", hint: "Scale of the update (alpha / r multiplies it).", integer: false, min: 0, exclusiveMin: true, max: 1024, advanced: false },
  { group: "lora", key: "dropout", label: "Dropout", hint: "Dropout on the LoRA input during training, 0 to 0.5.", integer: false, min: 0, max: 0.5, advanced: false },
  { group: "training", key: "epochs", label: "Epochs", hint: "Passes over the training records; ignored when max steps is set.", integer: false, min: 0, exclusiveMin: true, max: 100, advanced: false },
  { group: "training", key: "learningRate", label: "Learning rate", hint: "AdamW's peak rate, after warmup; decays by cosine.", integer: false, min: 0, exclusiveMin: true, max: 1, advanced: false },
  { group: "training", key: "batchSize", label: "Batch size", hint: "Sequences per micro-batch.", integer: true, min: 1, max: 256, advanced: false },
  { group: "training", key: "maxSteps", label: "Max steps", hint: "Optimizer steps to run; overrides epochs. Empty: train for the epochs above.", integer: true, min: 1, max: 100_000, advanced: true },
  { group: "training", key: "gradientAccumulation", label: "Gradient accumulation", hint: "Micro-batches per optimizer step.", integer: true, min: 1, max: 64, advanced: true },
  { group: "training", key: "warmupSteps", label: "Warmup steps", hint: "Steps of linear warmup; must be below max steps.", integer: true, min: 0, max: 10_000, advanced: true },
  { group: "training", key: "weightDecay", label: "Weight decay", hint: "AdamW's decoupled weight decay.", integer: false, min: 0, max: 1, advanced: true },
  { group: "training", key: "clipNorm", label: "Gradient clip norm", hint: "Global gradient norm cap; 0 turns clipping off.", integer: false, min: 0, max: 100, advanced: true },
  { group: "training", key: "evalFraction", label: "Held-out fraction", hint: "Share of records held out to evaluate on (at least one record).", integer: false, min: 0.01, max: 0.5, advanced: true },
  { group: "training", key: "evalEvery", label: "Evaluate every", hint: "Steps between held-out evaluations; 0 evaluates only at the end.", integer: true, min: 0, max: 100_000, advanced: true },
  { group: "training", key: "earlyStopPatience", label: "Early-stop patience", hint: "Evaluations without improvement before stopping; 0 never stops early.", integer: true, min: 0, max: 100, advanced: true },
  { group: "training", key: "checkpointEvery", label: "Checkpoint every", hint: "Steps between checkpoints a retried run resumes from; 0 turns them off.", integer: true, min: 0, max: 100_000, advanced: true },
  { group: "training", key: "seed", label: "Seed", hint: "Same seed, data and settings: the same adapter.", integer: true, min: 0, max: 2 ** 31 - 1, advanced: true },
];

/** The numeric settings, in the order the form shows them, each with the API's default. */
export const NUMBER_FIELDS: readonly NumberField[] = FIELDS.map((f) => ({ ...f, default: apiDefault(f.group, f.key) }));

function apiDefault(group: SettingsGroup, key: string): number | undefined {
  const value = (API_DEFAULTS[group] as Record<string, unknown>)[key];
  if (value !== undefined && typeof value !== "number") throw new Error(`${group}.${key}: the API's default ${JSON.stringify(value)} is not a number`);
  return value;
}

/** The id of a setting's input, e.g. "f-training-maxSteps"; also how API issue paths find their field. */
export function fieldId(group: SettingsGroup, key: string): string {
  return `f-${group}-${key}`;
}

/**
 * Reads the form's raw text values into the job's `lora`/`training` objects.
 * An empty field is left out, so the API fills its default; text that is not
 * a number is sent as it is, so the API's message names the field.
 */
export function settingsFromInputs(values: ReadonlyMap<string, string>, targetModules: readonly string[]): {
  lora: Record<string, unknown>;
  training: Record<string, unknown>;
} {
  const out = { lora: {} as Record<string, unknown>, training: {} as Record<string, unknown> };
  for (const f of NUMBER_FIELDS) {
    const raw = values.get(fieldId(f.group, f.key))?.trim() ?? "";
    if (raw === "") continue;
    const n = Number(raw);
    out[f.group][f.key] = Number.isFinite(n) ? n : raw;
  }
  out.lora.targetModules = [...targetModules];
  return out;
}

/** The range a field accepts, in words: "1 to 256", "more than 0, at most 1". */
export function rangeText(f: NumberField): string {
  return f.exclusiveMin ? `more than ${f.min}, at most ${f.max}` : `${f.min} to ${f.max}`;
}

/**
 * Checks one field's text against the API's bounds before anything is sent,
 * so people read "Rank (r) must be a whole number from 1 to 256" instead of
 * a validator's "Too big: expected number to be <=256". Undefined when fine
 * (an empty field is fine: the API fills its default).
 */
export function checkNumber(f: NumberField, raw: string): string | undefined {
  const text = raw.trim();
  if (text === "") return undefined;
  const n = Number(text);
  const ok = Number.isFinite(n) && (!f.integer || Number.isInteger(n)) && n <= f.max && (f.exclusiveMin ? n > f.min : n >= f.min);
  return ok ? undefined : boundsMessage(f);
}

/** What a field accepts, as a sentence: "Rank (r) must be a whole number from 1 to 256." */
export function boundsMessage(f: NumberField): string {
  const kind = f.integer ? "a whole number" : "a number";
  const range = f.exclusiveMin ? `above ${f.min} and at most ${f.max}` : `from ${f.min} to ${f.max}`;
  return `${f.label} must be ${kind} ${range}.`;
}

/** The numeric field an API issue path names ("training.maxSteps"), if any. */
export function fieldAt(path: string): NumberField | undefined {
  return NUMBER_FIELDS.find((f) => `${f.group}.${f.key}` === path);
}
