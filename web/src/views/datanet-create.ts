import type { AppContext } from "../app-context.ts";
import { ApiError } from "../api-error.ts";
import { h, replace } from "../dom.ts";
import { parseTags } from "../format.ts";
import { routeHref } from "../router.ts";
import { errorBox } from "./common.ts";

/** Common data licenses by SPDX id; "other" lets a person type any SPDX id. */
export const LICENSES = [
  ["CC-BY-4.0", "Creative Commons Attribution 4.0"],
  ["CC-BY-SA-4.0", "Creative Commons Attribution-ShareAlike 4.0"],
  ["CC0-1.0", "Creative Commons Zero (public domain)"],
  ["CC-BY-NC-4.0", "Creative Commons Attribution-NonCommercial 4.0"],
  ["CDLA-Permissive-2.0", "Community Data License Agreement Permissive 2.0"],
  ["CDLA-Sharing-1.0", "Community Data License Agreement Sharing 1.0"],
  ["ODC-By-1.0", "Open Data Commons Attribution 1.0"],
  ["ODbL-1.0", "Open Database License 1.0"],
  ["PDDL-1.0", "Open Data Commons Public Domain Dedication 1.0"],
  ["MIT", "MIT License"],
  ["Apache-2.0", "Apache License 2.0"],
] as const;

const SCHEMAS = [
  ["text", "Text", 'Plain passages: {"text": "…"} per record.'],
  ["instruction", "Instruction", '{"instruction", "input"?, "output"} pairs for instruction tuning.'],
  ["chat", "Chat", '{"messages": [{"role", "content"}, …]} conversations.'],
] as const;

/** The create-Datanet form; the API validates and its messages show beside the fields. */
export function datanetCreateView(ctx: AppContext, _signal: AbortSignal): HTMLElement {
  const errors = new Map<string, HTMLElement>();
  const field = (name: string, label: string, control: HTMLElement, hint?: string) => {
    const error = h("p", { class: "field-error", id: `${name}-error`, "aria-live": "polite" });
    errors.set(name, error);
    control.setAttribute("aria-describedby", `${name}-hint ${name}-error`);
    return h("div", { class: "field" },
      h("label", { for: `f-${name}` }, label),
      control,
      hint ? h("p", { class: "hint", id: `${name}-hint` }, hint) : null,
      error);
  };

  const name = h("input", { id: "f-name", name: "name", required: true, minlength: 3, maxlength: 100, autocomplete: "off" });
  const description = h("textarea", { id: "f-description", name: "description", rows: 4, maxlength: 5000 });
  const license = h("select", { id: "f-license", name: "license" },
    LICENSES.map(([id, title]) => h("option", { value: id }, `${id} — ${title}`)),
    h("option", { value: "other" }, "Other SPDX id…"));
  const licenseOther = h("input", { id: "f-license-other", name: "licenseOther", placeholder: "e.g. CC-BY-NC-SA-4.0", hidden: true, "aria-label": "Other SPDX license id", spellcheck: "false" });
  license.addEventListener("change", () => {
    licenseOther.hidden = license.value !== "other";
    if (!licenseOther.hidden) licenseOther.focus();
  });
  const schema = h("fieldset", { class: "choices", id: "f-schema" },
    h("legend", {}, "Record schema"),
    SCHEMAS.map(([value, title, hint], i) =>
      h("label", { class: "choice" },
        h("input", { type: "radio", name: "schema", value, checked: i === 0 }),
        h("span", {}, h("strong", {}, title), h("span", { class: "hint" }, hint)))));
  const schemaError = h("p", { class: "field-error", id: "schema-error" });
  errors.set("schema", schemaError);
  const visibility = h("fieldset", { class: "choices inline", id: "f-visibility" },
    h("legend", {}, "Visibility"),
    h("label", { class: "choice" }, h("input", { type: "radio", name: "visibility", value: "public", checked: true }), h("span", {}, "Public")),
    h("label", { class: "choice" }, h("input", { type: "radio", name: "visibility", value: "private" }), h("span", {}, "Private")));
  const tags = h("input", { id: "f-tags", name: "tags", placeholder: "nlp, legal, english", autocomplete: "off", spellcheck: "false" });

  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button primary" }, "Create Datanet");

  const form = h("form", { class: "form", novalidate: true },
    field("name", "Name", name, "3–100 characters."),
    field("description", "Description", description, "What the data is, where it comes from, what it is good for."),
    field("license", "License", h("div", { class: "stack" }, license, licenseOther), "Every contribution is accepted under this license."),
    schema, schemaError,
    visibility,
    field("tags", "Tags", tags, "Separated by commas or spaces: lower-case letters, digits and dashes."),
    status,
    h("div", { class: "row" }, submit, h("a", { class: "button ghost", href: routeHref({ name: "list", q: "", tag: "" }) }, "Cancel")));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const el of errors.values()) replace(el);
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    replace(status);
    const data = new FormData(form);
    const input = {
      name: name.value,
      description: description.value,
      license: license.value === "other" ? licenseOther.value.trim() : license.value,
      schema: String(data.get("schema")) as "text" | "instruction" | "chat",
      visibility: String(data.get("visibility")) as "public" | "private",
      tags: parseTags(tags.value),
    };
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      const dn = await ctx.api.createDatanet(input);
      ctx.navigate({ name: "datanet", id: dn.id });
    } catch (err) {
      replace(status, errorBox(err));
      if (err instanceof ApiError) showFieldErrors(err.fields);
    } finally {
      submit.disabled = false;
      submit.textContent = "Create Datanet";
    }
  });

  function showFieldErrors(fields: Record<string, string>) {
    let first: HTMLElement | undefined;
    for (const [path, message] of Object.entries(fields)) {
      const key = path.split(".")[0] ?? "";
      const target = errors.get(key);
      if (!target) continue;
      replace(target, target.textContent ? `${target.textContent}; ${message}` : message);
      const control = form.querySelector<HTMLElement>(`#f-${key}`);
      control?.setAttribute("aria-invalid", "true");
      first ??= control ?? undefined;
    }
    first?.focus();
  }

  return h("section", { class: "narrow", "aria-labelledby": "create-title" },
    h("h1", { id: "create-title" }, "New Datanet"),
    h("p", { class: "lead" }, "A Datanet pools contributions under one license and schema. Each accepted record keeps its contributor and content hash, and every published version has a Merkle root."),
    form);
}
