import type { Datanet, DatanetVersion } from "../../../core/datanets/model.ts";
import type { BaseModel } from "../../../core/jobs/base-models.ts";
import type { AppContext } from "../app-context.ts";
import { ApiError } from "../api-error.ts";
import { h, replace } from "../dom.ts";
import { formatCount, shortHex } from "../format.ts";
import {
  DEFAULT_BASE_MODEL,
  DEFAULT_TARGET_MODULES,
  NUMBER_FIELDS,
  TARGET_MODULES,
  fieldId,
  settingsFromInputs,
  type NumberField,
} from "../jobs/hyper-parameters.ts";
import { routeHref } from "../router.ts";
import { badge, errorBox, isAbort, loading } from "./common.ts";

/** One Datanet version the job trains on. */
interface Source {
  datanet: Datanet;
  version: number;
}

/**
 * The "New fine-tune" page: Datanet versions (the one the person came from
 * preselected), a base model, LoRA and training settings prefilled with the
 * API's defaults (the rarely changed ones behind "Advanced"). The API
 * validates; its messages show beside the fields they name.
 */
export function fineTuneFormView(ctx: AppContext, signal: AbortSignal, preselect: { datanet: string; version: number | undefined }): HTMLElement {
  /** Error slots by API issue path ("training.maxSteps", "datanets.0", …). */
  const slots = new Map<string, { error: HTMLElement; control?: HTMLElement; details?: HTMLDetailsElement }>();
  const sources: Source[] = [];

  // --- Data: the Datanet versions -------------------------------------------------
  const sourceList = h("ul", { class: "sources", "aria-label": "Datanet versions to train on", "data-testid": "job-sources" });
  const sourcesError = h("p", { class: "field-error", id: "datanets-error", "aria-live": "polite" });
  slots.set("datanets", { error: sourcesError });
  const sourcesEmpty = h("p", { class: "muted empty" }, "No Datanet version picked yet: add one below.");

  function renderSources() {
    for (const key of [...slots.keys()]) if (/^datanets\.\d+$/.test(key)) slots.delete(key);
    replace(sourceList, sources.map((s, i) => sourceRow(s, i)));
    sourcesEmpty.hidden = sources.length > 0;
    refreshResults();
  }

  function sourceRow(source: Source, index: number): HTMLElement {
    const { datanet } = source;
    const selectId = `f-datanets-${index}-version`;
    const select = h("select", { id: selectId, name: `version-${index}` },
      Array.from({ length: datanet.versions }, (_, i) => datanet.versions - i).map((v) =>
        h("option", { value: v, selected: v === source.version }, `v${v}${v === datanet.versions ? " (latest)" : ""}`)));
    const summary = h("span", { class: "muted small source-summary" });
    const error = h("p", { class: "field-error", "aria-live": "polite" });
    slots.set(`datanets.${index}`, { error, control: select });
    const showSummary = () => {
      replace(summary, "…");
      ctx.api.getVersion(datanet.id, source.version, signal).then(
        (v: DatanetVersion) => replace(summary, `${formatCount(v.records)} records · ${formatCount(v.tokens)} tokens · root `, h("code", { title: v.root }, shortHex(v.root, 8, 6))),
        (err: unknown) => { if (!isAbort(err, signal)) replace(summary, err instanceof Error ? err.message : String(err)); });
    };
    select.addEventListener("change", () => {
      source.version = Number(select.value);
      showSummary();
    });
    const remove = h("button", { type: "button", class: "button ghost small", "aria-label": `Remove ${datanet.name}` }, "Remove");
    remove.addEventListener("click", () => {
      sources.splice(index, 1);
      renderSources();
    });
    showSummary();
    return h("li", { class: "source-row", "data-testid": "job-source", "data-datanet": datanet.id },
      h("div", { class: "source-main" },
        h("a", { href: routeHref({ name: "datanet", id: datanet.id }), class: "source-name" }, datanet.name),
        h("div", { class: "badges" }, badge(datanet.schema), badge(datanet.license, "license")),
        summary),
      h("div", { class: "field inline" }, h("label", { for: selectId }, "Version"), select),
      remove,
      error);
  }

  function addSource(datanet: Datanet, version = datanet.versions) {
    if (datanet.versions < 1) return;
    if (!sources.some((s) => s.datanet.id === datanet.id && s.version === version)) sources.push({ datanet, version });
    renderSources();
  }

  // A search over the Datanets this account can read, to add more versions.
  const search = h("input", { type: "search", id: "f-datanet-search", placeholder: "Search Datanets by name or description", autocomplete: "off" });
  const results = h("ul", { class: "picker-results", "aria-label": "Datanets to add", "aria-live": "polite" });
  let found: Datanet[] = [];
  let searchController: AbortController | undefined;
  let debounce: ReturnType<typeof setTimeout> | undefined;
  async function runSearch() {
    searchController?.abort();
    searchController = new AbortController();
    const sig = AbortSignal.any([signal, searchController.signal]);
    replace(results, h("li", {}, loading("Searching…")));
    try {
      found = (await ctx.api.listDatanets({ q: search.value.trim() }, sig)).items;
      refreshResults();
    } catch (err) {
      if (!isAbort(err, sig)) replace(results, h("li", {}, errorBox(err)));
    }
  }
  function refreshResults() {
    if (found.length === 0) return replace(results, h("li", { class: "muted small" }, search.value.trim() ? "No Datanets match." : "No Datanets yet."));
    replace(results, found.map((dn) => {
      const added = sources.some((s) => s.datanet.id === dn.id && s.version === dn.versions);
      const add = h("button", { type: "button", class: "button small", disabled: dn.versions < 1 || added }, added ? "Added" : "Add");
      add.addEventListener("click", () => addSource(dn));
      return h("li", { class: "picker-row" },
        h("span", { class: "picker-name" }, dn.name),
        h("span", { class: "muted small" }, dn.versions < 1 ? "no published version" : `${dn.versions} version${dn.versions === 1 ? "" : "s"} · ${dn.schema}`),
        add);
    }));
  }
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void runSearch(), 250);
  });
  signal.addEventListener("abort", () => clearTimeout(debounce));

  // --- Base model --------------------------------------------------------------------
  const modelChoices = h("div", { class: "model-cards", "data-testid": "base-models" }, loading("Loading base models…"));
  const modelError = h("p", { class: "field-error", id: "baseModel-error", "aria-live": "polite" });
  slots.set("baseModel", { error: modelError });
  let models: BaseModel[] = [];
  let selectedModel = DEFAULT_BASE_MODEL;

  function renderModels() {
    replace(modelChoices, models.map((m) => {
      const radio = h("input", { type: "radio", name: "baseModel", value: m.id, checked: m.id === selectedModel });
      radio.addEventListener("change", () => {
        selectedModel = m.id;
        updateRankBound();
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
      if (!models.some((m) => m.id === selectedModel)) selectedModel = models[0]?.id ?? selectedModel;
      renderModels();
      updateRankBound();
    },
    (err: unknown) => { if (!isAbort(err, signal)) replace(modelChoices, errorBox(err)); });

  // --- LoRA and training settings ----------------------------------------------------
  const inputs = new Map<string, HTMLInputElement>();
  const hints = new Map<string, HTMLElement>();
  const advanced = h("details", { class: "advanced", "data-testid": "advanced" }, h("summary", {}, "Advanced"));

  function numberField(f: NumberField): HTMLElement {
    const id = fieldId(f.group, f.key);
    // Text, not type=number: what the person typed reaches the API, whose message then names the field.
    const input = h("input", {
      id, name: `${f.group}.${f.key}`, inputmode: f.integer ? "numeric" : "decimal", autocomplete: "off", spellcheck: "false",
      value: f.default === undefined ? "" : String(f.default), placeholder: f.default === undefined ? "none" : "",
      "aria-describedby": `${id}-hint ${id}-error`,
    });
    inputs.set(id, input);
    const error = h("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
    // An edited value may be fine now: its old message goes until the next submit says otherwise.
    input.addEventListener("input", () => {
      replace(error);
      input.removeAttribute("aria-invalid");
    });
    slots.set(`${f.group}.${f.key}`, { error, control: input, ...(f.advanced ? { details: advanced } : {}) });
    const range = f.exclusiveMin ? `more than ${f.min}, at most ${f.max}` : `${f.min} to ${f.max}`;
    const hint = h("p", { class: "hint", id: `${id}-hint` }, f.hint, " ",
      h("span", { class: "default" }, f.default === undefined ? `Default: none · ${range}` : `Default: ${f.default} · ${range}`));
    hints.set(id, hint);
    return h("div", { class: "field", "data-field": `${f.group}.${f.key}` }, h("label", { for: id }, f.label), input, hint, error);
  }

  function updateRankBound() {
    const model = models.find((m) => m.id === selectedModel);
    const hint = hints.get(fieldId("lora", "rank"));
    hint?.querySelector(".bound")?.remove();
    if (model && hint) hint.append(h("span", { class: "bound" }, `At most ${model.hiddenSize} (the hidden size of ${model.id}).`));
  }

  const targetError = h("p", { class: "field-error", id: "targetModules-error", "aria-live": "polite" });
  const targets = h("fieldset", { class: "choices targets", id: "f-lora-targetModules", "aria-describedby": "targetModules-hint targetModules-error" },
    h("legend", {}, "Target modules"),
    h("div", { class: "target-grid" },
      TARGET_MODULES.map(([name, what]) =>
        h("label", { class: "choice" },
          h("input", { type: "checkbox", name: "targetModules", value: name, checked: DEFAULT_TARGET_MODULES.includes(name) }),
          h("span", {}, h("code", {}, name), h("span", { class: "hint" }, what))))),
    h("p", { class: "hint", id: "targetModules-hint" }, `The projections that get a low-rank update. Default: ${DEFAULT_TARGET_MODULES.join(", ")}.`),
    targetError);
  slots.set("lora.targetModules", { error: targetError, control: targets });

  const loraFields = NUMBER_FIELDS.filter((f) => f.group === "lora").map(numberField);
  const trainingFields = NUMBER_FIELDS.filter((f) => f.group === "training" && !f.advanced).map(numberField);
  advanced.append(
    h("p", { class: "hint" }, "Set max steps for a short run (it overrides epochs); held-out evaluations every few steps put held-out points on the loss curve."),
    h("div", { class: "field-grid" }, NUMBER_FIELDS.filter((f) => f.advanced).map(numberField)));

  // --- Submit --------------------------------------------------------------------------
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button primary", "data-testid": "start-fine-tune" }, "Start fine-tune");
  const section = (title: string, hint: string, ...content: (Node | null)[]) =>
    h("fieldset", { class: "card panel form-section" }, h("legend", {}, h("h2", {}, title)), h("p", { class: "hint" }, hint), ...content);

  const form = h("form", { class: "form fine-tune-form", novalidate: true },
    section("Data", "The published Datanet versions to train on. Each record is credited to its contributor in the adapter's attribution.",
      sourceList, sourcesEmpty, sourcesError,
      h("div", { class: "picker" },
        h("div", { class: "field" }, h("label", { for: "f-datanet-search" }, "Add a Datanet"), search),
        results)),
    section("Base model", "The model the adapter is trained on top of; its weights stay frozen.", modelChoices, modelError),
    section("LoRA", "The low-rank adapter: W + (alpha / r) · B·A on each target module.", h("div", { class: "field-grid" }, loraFields), targets),
    section("Training", "Defaults suit a small Datanet; change them only with a reason.", h("div", { class: "field-grid" }, trainingFields), advanced),
    status,
    h("div", { class: "row" }, submit, h("a", { class: "button ghost", href: routeHref({ name: "jobs" }) }, "Cancel")));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const values = new Map([...inputs].map(([id, input]) => [id, input.value]));
    const modules = [...form.querySelectorAll<HTMLInputElement>("input[name=targetModules]:checked")].map((c) => c.value);
    const { lora, training } = settingsFromInputs(values, modules);
    submit.disabled = true;
    submit.textContent = "Starting…";
    try {
      const job = await ctx.api.createJob({
        datanets: sources.map((s) => ({ id: s.datanet.id, version: s.version })),
        baseModel: selectedModel,
        lora,
        training,
      });
      ctx.navigate({ name: "job", id: job.id });
    } catch (err) {
      replace(status, errorBox(err));
      if (err instanceof ApiError) showErrors(err);
    } finally {
      submit.disabled = false;
      submit.textContent = "Start fine-tune";
    }
  });

  function clearErrors() {
    for (const slot of slots.values()) {
      replace(slot.error);
      slot.control?.removeAttribute("aria-invalid");
    }
    replace(status);
  }

  /** Puts each issue beside its field: the longest registered prefix of its path. */
  function showErrors(err: ApiError) {
    const entries = Object.entries(err.fields);
    // Errors about a Datanet version (404/409) name no field: they belong to the data.
    if (entries.length === 0 && /datanet|records/.test(err.code)) entries.push(["datanets", err.detail ?? err.title]);
    if (entries.length === 0 && err.code === "unknown-base-model") entries.push(["baseModel", err.detail ?? err.title]);
    let first: HTMLElement | undefined;
    for (const [path, message] of entries) {
      const parts = path.split(".");
      let slot;
      for (let n = parts.length; n > 0 && !slot; n--) slot = slots.get(parts.slice(0, n).join("."));
      if (!slot) continue;
      replace(slot.error, slot.error.textContent ? `${slot.error.textContent}; ${message}` : message);
      slot.control?.setAttribute("aria-invalid", "true");
      if (slot.details) slot.details.open = true;
      first ??= slot.control ?? slot.error;
    }
    first?.focus();
  }

  // Preselect the Datanet the person came from.
  if (preselect.datanet) {
    replace(sourceList, h("li", {}, loading("Loading the Datanet…")));
    ctx.api.getDatanet(preselect.datanet, signal).then(
      (dn) => {
        if (dn.versions < 1) {
          renderSources();
          replace(sourcesError, `${dn.name} has no published version yet: publish one on its page first.`);
        } else {
          addSource(dn, Math.min(preselect.version ?? dn.versions, dn.versions));
        }
      },
      (err: unknown) => {
        if (isAbort(err, signal)) return;
        renderSources();
        replace(status, errorBox(err));
      });
  } else {
    renderSources();
  }
  void runSearch();

  return h("section", { class: "fine-tune", "aria-labelledby": "fine-tune-title" },
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: routeHref({ name: "jobs" }) }, "Jobs"), " / New fine-tune"),
    h("h1", { id: "fine-tune-title" }, "New fine-tune"),
    h("p", { class: "lead" }, "Train a LoRA adapter on published Datanet versions. Training, held-out evaluation against the base model and the adapter's attribution fingerprint run in the background; the job page follows it live."),
    form);
}
