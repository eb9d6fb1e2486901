import type { BaseModel } from "../../../../core/jobs/base-models.ts";
import { h, replace } from "../../dom.ts";
import {
  DEFAULT_TARGET_MODULES,
  NUMBER_FIELDS,
  TARGET_MODULES,
  checkNumber,
  fieldId,
  rangeText,
  settingsFromInputs,
  type NumberField,
} from "../../jobs/hyper-parameters.ts";
import type { FieldErrors } from "./field-errors.ts";

export interface SettingsFields {
  /** The LoRA section's content. */
  lora: HTMLElement;
  /** The training section's content, "Advanced" included. */
  training: HTMLElement;
  /** The `lora` and `training` objects to send, from what is typed now. */
  read(): { lora: Record<string, unknown>; training: Record<string, unknown> };
  /** A field's current number (its API default when empty or not a number). */
  number(key: string): number | undefined;
  /**
   * Proposes a value the person has not typed themselves (scaled defaults):
   * a field they edited keeps their value.
   */
  propose(key: string, value: number, why: string): void;
  /** Sets a value as if typed (a cloned job's settings). */
  set(key: string, value: number | undefined): void;
  setTargets(modules: readonly string[]): void;
  /** Marks every field whose text is out of the API's bounds; true when all are fine. */
  check(): boolean;
  /** Names the largest useful rank for the chosen model. */
  setModel(model: BaseModel | undefined): void;
  onInput(listener: () => void): void;
}

/**
 * The LoRA and training settings: numeric inputs with the API's defaults and
 * bounds (the rarely changed ones behind "Advanced"), and the target modules.
 */
export function settingsFields(errors: FieldErrors): SettingsFields {
  const inputs = new Map<string, { field: NumberField; input: HTMLInputElement; note: HTMLElement; edited: boolean }>();
  const hints = new Map<string, HTMLElement>();
  const listeners: (() => void)[] = [];
  const advanced = h("details", { class: "advanced", "data-testid": "advanced" }, h("summary", {}, "Advanced"));

  function numberField(f: NumberField): HTMLElement {
    const id = fieldId(f.group, f.key);
    const input = h("input", {
      id, name: `${f.group}.${f.key}`, type: "number", min: f.min, max: f.max, step: f.integer ? 1 : "any",
      inputmode: f.integer ? "numeric" : "decimal", autocomplete: "off",
      value: f.default === undefined ? "" : String(f.default), placeholder: f.default === undefined ? "none" : "",
      "aria-describedby": `${id}-hint ${id}-note ${id}-error`,
    });
    const note = h("span", { class: "scaled-note", id: `${id}-note` });
    const entry = { field: f, input, note, edited: false };
    inputs.set(f.key, entry);
    const error = h("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
    // An edited value may be fine now: its old message goes until the next check says otherwise.
    input.addEventListener("input", () => {
      entry.edited = true;
      replace(note);
      replace(error);
      input.removeAttribute("aria-invalid");
      for (const l of listeners) l();
    });
    errors.set(`${f.group}.${f.key}`, { error, control: input, ...(f.advanced ? { details: advanced } : {}) });
    const hint = h("p", { class: "hint", id: `${id}-hint` }, f.hint, " ",
      h("span", { class: "default" }, f.default === undefined ? `Default: none · ${rangeText(f)}` : `Default: ${f.default} · ${rangeText(f)}`));
    hints.set(f.key, hint);
    return h("div", { class: "field", "data-field": `${f.group}.${f.key}` }, h("label", { for: id }, f.label), input, hint, h("p", { class: "hint" }, note), error);
  }

  const targetError = h("p", { class: "field-error", id: "targetModules-error", "aria-live": "polite" });
  const targets = h("fieldset", { class: "choices targets", id: "f-lora-targetModules", "aria-describedby": "targetModules-hint targetModules-error" },
    h("legend", {}, "Target modules"),
    h("div", { class: "target-grid" },
      TARGET_MODULES.map(([name, what]) =>
        h("label", { class: "choice" },
          h("input", { type: "checkbox", name: "targetModules", value: name, checked: DEFAULT_TARGET_MODULES.includes(name), "aria-label": `${name} (${what})` }),
          h("span", { "aria-hidden": "true" }, h("code", {}, name), h("span", { class: "hint" }, what))))),
    h("p", { class: "hint", id: "targetModules-hint" }, `The projections that get a low-rank update. Default: ${DEFAULT_TARGET_MODULES.join(", ")}.`),
    targetError);
  errors.set("lora.targetModules", { error: targetError, control: targets });
  const boxes = () => [...targets.querySelectorAll<HTMLInputElement>("input[name=targetModules]")];

  const lora = h("div", {}, h("div", { class: "field-grid" }, NUMBER_FIELDS.filter((f) => f.group === "lora").map(numberField)), targets);
  const trainingGrid = h("div", { class: "field-grid" }, NUMBER_FIELDS.filter((f) => f.group === "training" && !f.advanced).map(numberField));
  advanced.append(
    h("p", { class: "hint" }, "Set max steps for a short run (it overrides epochs); held-out evaluations every few steps put held-out points on the loss curve."),
    h("div", { class: "field-grid" }, NUMBER_FIELDS.filter((f) => f.advanced).map(numberField)));

  return {
    lora,
    training: h("div", {}, trainingGrid, advanced),
    read() {
      const values = new Map([...inputs.values()].map(({ field, input }) => [fieldId(field.group, field.key), input.value]));
      return settingsFromInputs(values, boxes().filter((b) => b.checked).map((b) => b.value));
    },
    number(key) {
      const entry = inputs.get(key);
      if (!entry) return undefined;
      const n = entry.input.value.trim() === "" ? Number.NaN : Number(entry.input.value);
      return Number.isFinite(n) && checkNumber(entry.field, entry.input.value) === undefined ? n : entry.field.default;
    },
    propose(key, value, why) {
      const entry = inputs.get(key);
      if (!entry || entry.edited) return;
      entry.input.value = String(value);
      replace(entry.note, value === entry.field.default ? "" : why);
    },
    set(key, value) {
      const entry = inputs.get(key);
      if (!entry) return;
      entry.input.value = value === undefined ? "" : String(value);
      entry.edited = true;
      replace(entry.note);
    },
    setTargets(modules) {
      for (const b of boxes()) b.checked = modules.includes(b.value);
    },
    check() {
      const problems: [string, string][] = [];
      for (const { field, input } of inputs.values()) {
        // A number input reports "" for text it cannot parse; badInput tells that apart from an empty field.
        const message = input.validity.badInput ? checkNumber(field, "not a number") : checkNumber(field, input.value);
        if (message) problems.push([`${field.group}.${field.key}`, message]);
      }
      if (!boxes().some((b) => b.checked)) problems.push(["lora.targetModules", "Pick at least one target module."]);
      errors.show(problems);
      return problems.length === 0;
    },
    setModel(model) {
      const hint = hints.get("rank");
      hint?.querySelector(".bound")?.remove();
      if (model && hint) hint.append(h("span", { class: "bound" }, ` At most ${model.hiddenSize} (the hidden size of ${model.id}).`));
    },
    onInput: (listener) => void listeners.push(listener),
  };
}
