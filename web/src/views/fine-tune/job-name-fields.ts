import type { AppContext } from "../../app-context.ts";
import { h, replace } from "../../dom.ts";

/** Optional names the API may accept on a new job, by property of its CreateJobInput schema. */
const NAME_FIELDS = [
  { property: "name", id: "f-job-name", label: "Job name", hint: "Shown in the jobs list instead of the id." },
  { property: "adapterName", id: "f-adapter-name", label: "Adapter name", hint: "Shown on the adapter's page and in the adapters list." },
] as const;

export interface JobNameFields {
  element: HTMLElement;
  /** The names typed, only for properties the API documents. */
  read(): Record<string, string>;
}

/**
 * Names for the job and its adapter, offered only when the API's own
 * OpenAPI document says CreateJobInput takes them: the request schema is
 * strict, so sending a property it lacks would fail the whole job.
 */
export function jobNameFields(ctx: AppContext, signal: AbortSignal): JobNameFields {
  const element = h("div", { class: "name-fields", hidden: true });
  const inputs = new Map<string, HTMLInputElement>();

  void ctx.api.request<{ components?: { schemas?: Record<string, { properties?: Record<string, { maxLength?: number }> }> } }>("GET", "/openapi.json", undefined, signal)
    .then((doc) => {
      const props = doc.components?.schemas?.CreateJobInput?.properties ?? {};
      const fields = NAME_FIELDS.filter((f) => f.property in props);
      if (fields.length === 0) return;
      replace(element, h("fieldset", { class: "card panel form-section" },
        h("legend", {}, h("h2", {}, "Names")),
        h("div", { class: "field-grid" }, fields.map((f) => {
          const max = props[f.property]?.maxLength;
          const input = h("input", { id: f.id, name: f.property, autocomplete: "off", maxlength: max ?? null, "aria-describedby": `${f.id}-hint` });
          inputs.set(f.property, input);
          return h("div", { class: "field" }, h("label", { for: f.id }, f.label), input, h("p", { class: "hint", id: `${f.id}-hint` }, f.hint, " Optional."));
        }))));
      element.hidden = false;
    }, () => undefined);

  return {
    element,
    read() {
      const out: Record<string, string> = {};
      for (const [property, input] of inputs) if (input.value.trim()) out[property] = input.value.trim();
      return out;
    },
  };
}
