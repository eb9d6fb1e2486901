import type { BaseModel } from "../../../../core/jobs/base-models.ts";
import type { AppContext } from "../../app-context.ts";
import { h, replace } from "../../dom.ts";
import { formatCount } from "../../format.ts";
import { DEFAULT_BASE_MODEL } from "../../jobs/hyper-parameters.ts";
import { badge, errorBox, isAbort, loading } from "../common.ts";
import type { FieldErrors } from "./field-errors.ts";

export interface BaseModelPicker {
  element: HTMLElement;
  /** The chosen model's id, and its catalog entry once the catalog has loaded. */
  selected(): { id: string; model: BaseModel | undefined };
  select(id: string): void;
}

/** The base models as radio cards (the API's default chosen); `onChange` runs on a choice and when the catalog arrives. */
export function baseModelPicker(ctx: AppContext, signal: AbortSignal, errors: FieldErrors, onChange: () => void): BaseModelPicker {
  const cards = h("div", { class: "model-cards", "data-testid": "base-models", role: "radiogroup", "aria-label": "Base model" }, loading("Loading base models…"));
  const error = h("p", { class: "field-error", id: "baseModel-error", "aria-live": "polite" });
  errors.set("baseModel", { error });
  let models: BaseModel[] = [];
  let selected = DEFAULT_BASE_MODEL;

  function render() {
    replace(cards, models.map((m) => {
      const radio = h("input", { type: "radio", name: "baseModel", value: m.id, checked: m.id === selected });
      radio.addEventListener("change", () => {
        selected = m.id;
        onChange();
      });
      return h("label", { class: "card model-card" },
        radio,
        h("span", { class: "model-body" },
          h("strong", {}, m.name), " ", h("code", { class: "muted" }, m.id),
          h("span", { class: "description" }, m.description),
          h("span", { class: "model-facts" },
            badge(`${formatCount(m.parameters)} parameters`), badge(`context ${formatCount(m.contextLength)}`),
            badge(`hidden ${m.hiddenSize}`), badge(m.license, "license"))));
    }));
  }

  void ctx.api.listBaseModels(signal).then(
    (list) => {
      models = list.items;
      if (!models.some((m) => m.id === selected)) selected = models[0]?.id ?? selected;
      render();
      onChange();
    },
    (err: unknown) => { if (!isAbort(err, signal)) replace(cards, errorBox(err)); });

  return {
    element: h("div", {}, cards, error),
    selected: () => ({ id: selected, model: models.find((m) => m.id === selected) }),
    select(id) {
      selected = id;
      if (models.length > 0) render();
      onChange();
    },
  };
}
