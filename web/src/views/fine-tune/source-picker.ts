import type { Datanet, DatanetVersion } from "../../../../core/datanets/model.ts";
import type { AppContext } from "../../app-context.ts";
import { h, replace } from "../../dom.ts";
import { formatCount, shortHex } from "../../format.ts";
import { routeHref } from "../../router.ts";
import { badge, errorBox, isAbort, loading } from "../common.ts";
import type { FieldErrors } from "./field-errors.ts";

/** One Datanet version the job trains on; `info` once its record and token counts have loaded. */
export interface Source {
  datanet: Datanet;
  version: number;
  info?: DatanetVersion;
}

export interface SourcePicker {
  /** The "Data" section's content: the picked versions and a search to add more. */
  element: HTMLElement;
  sources(): readonly Source[];
  /** Adds a version (the latest one not picked yet when none is named); false when every version is picked. */
  add(datanet: Datanet, version?: number): boolean;
  /** The slot for a message about the data as a whole. */
  error: HTMLElement;
}

/**
 * The Datanet versions a job trains on. A version appears at most once: the
 * version menus disable what another row already has, and "Add" picks the
 * newest version not yet in the job. `onChange` runs when the set or a
 * version's counts change (the estimate follows it).
 */
export function sourcePicker(ctx: AppContext, signal: AbortSignal, errors: FieldErrors, onChange: () => void): SourcePicker {
  const sources: Source[] = [];
  const list = h("ul", { class: "sources", "aria-label": "Datanet versions to train on", "data-testid": "job-sources" });
  const error = h("p", { class: "field-error", id: "datanets-error", "aria-live": "polite" });
  errors.set("datanets", { error });
  const empty = h("p", { class: "muted empty" }, "No Datanet version picked yet: add one below.");

  const taken = (datanetId: string, version: number, except?: Source) =>
    sources.some((s) => s !== except && s.datanet.id === datanetId && s.version === version);
  const freeVersion = (dn: Datanet) => {
    for (let v = dn.versions; v >= 1; v--) if (!taken(dn.id, v)) return v;
    return undefined;
  };

  function render() {
    errors.drop(/^datanets\.\d+$/);
    replace(list, sources.map((s, i) => row(s, i)));
    empty.hidden = sources.length > 0;
    refreshResults();
    onChange();
  }

  function row(source: Source, index: number): HTMLElement {
    const { datanet } = source;
    const selectId = `f-datanets-${index}-version`;
    const select = h("select", { id: selectId, name: `version-${index}` },
      Array.from({ length: datanet.versions }, (_, i) => datanet.versions - i).map((v) =>
        h("option", { value: v, selected: v === source.version, disabled: taken(datanet.id, v, source) },
          `v${v}${v === datanet.versions ? " (latest)" : ""}${taken(datanet.id, v, source) ? " (already added)" : ""}`)));
    const summary = h("span", { class: "muted small source-summary" });
    const rowError = h("p", { class: "field-error", "aria-live": "polite" });
    errors.set(`datanets.${index}`, { error: rowError, control: select });
    const showSummary = () => {
      replace(summary, "…");
      source.info = undefined;
      ctx.api.getVersion(datanet.id, source.version, signal).then(
        (v: DatanetVersion) => {
          source.info = v;
          replace(summary, `${formatCount(v.records)} records · ${formatCount(v.tokens)} tokens · root `, h("code", { title: v.root }, shortHex(v.root, 8, 6)));
          onChange();
        },
        (err: unknown) => { if (!isAbort(err, signal)) replace(summary, err instanceof Error ? err.message : String(err)); });
    };
    select.addEventListener("change", () => {
      source.version = Number(select.value);
      // The other rows' menus must now free the old version and lock the new one.
      render();
    });
    const remove = h("button", { type: "button", class: "button ghost small", "aria-label": `Remove ${datanet.name} v${source.version}` }, "Remove");
    remove.addEventListener("click", () => {
      sources.splice(index, 1);
      render();
    });
    if (source.info?.version === source.version) replace(summary, `${formatCount(source.info.records)} records · ${formatCount(source.info.tokens)} tokens · root `, h("code", { title: source.info.root }, shortHex(source.info.root, 8, 6)));
    else showSummary();
    return h("li", { class: "source-row", "data-testid": "job-source", "data-datanet": datanet.id, "data-version": source.version },
      h("div", { class: "source-main" },
        h("a", { href: routeHref({ name: "datanet", id: datanet.id }), class: "source-name" }, datanet.name),
        h("div", { class: "badges" }, badge(datanet.schema), badge(datanet.license, "license")),
        summary),
      h("div", { class: "field inline" }, h("label", { for: selectId }, `Version of ${datanet.name}`), select),
      remove,
      rowError);
  }

  function add(datanet: Datanet, version?: number): boolean {
    const v = version !== undefined && !taken(datanet.id, version) ? version : freeVersion(datanet);
    if (v === undefined || v < 1) return false;
    sources.push({ datanet, version: v });
    render();
    return true;
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
      const next = freeVersion(dn);
      const all = dn.versions >= 1 && next === undefined;
      const addButton = h("button", { type: "button", class: "button small", disabled: dn.versions < 1 || all, "aria-label": all ? `${dn.name}: every version added` : `Add ${dn.name}${next ? ` v${next}` : ""}` }, all ? "Added" : "Add");
      addButton.addEventListener("click", () => void add(dn));
      return h("li", { class: "picker-row" },
        h("span", { class: "picker-name" }, dn.name),
        h("span", { class: "muted small" }, dn.versions < 1 ? "no published version" : `${dn.versions} version${dn.versions === 1 ? "" : "s"} · ${dn.schema}`),
        addButton);
    }));
  }
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void runSearch(), 250);
  });
  signal.addEventListener("abort", () => clearTimeout(debounce));
  void runSearch();

  const element = h("div", { class: "source-picker" },
    list, empty, error,
    h("div", { class: "picker" },
      h("div", { class: "field" }, h("label", { for: "f-datanet-search" }, "Add a Datanet"), search),
      results));
  return { element, sources: () => sources, add, error };
}
