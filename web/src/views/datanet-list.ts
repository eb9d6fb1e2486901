import type { Datanet } from "../../../core/datanets/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatDate, shortHex } from "../format.ts";
import { routeHref } from "../router.ts";
import { badge } from "./common.ts";
import { pagedList } from "./paged-list.ts";

/** Search and browse Datanets: a query box, a tag filter, and pages of cards. */
export function datanetListView(ctx: AppContext, signal: AbortSignal, initial: { q: string; tag: string }): HTMLElement {
  const q = h("input", { type: "search", id: "dn-q", name: "q", placeholder: "Search by name or description", value: initial.q, autocomplete: "off" });
  const tag = h("input", { type: "text", id: "dn-tag", name: "tag", placeholder: "any tag", value: initial.tag, list: "dn-tags", autocomplete: "off", spellcheck: "false" });
  const tagList = h("datalist", { id: "dn-tags" });
  const knownTags = new Set<string>();
  const list = h("ul", { class: "datanet-list", "aria-label": "Datanets" });
  const status = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", class: "button", hidden: true }, "Load more");

  const load = pagedList<Datanet>({
    signal,
    status,
    more,
    fetchPage: (cursor, sig) => ctx.api.listDatanets({ q: q.value.trim(), tag: tag.value.trim().toLowerCase(), cursor }, sig),
    onReset: () => replace(list),
    render: (items) => list.append(...items.map(card)),
    empty: (items, reset) => (reset && items.length === 0 ? emptyState() : undefined),
  });

  function card(dn: Datanet): HTMLElement {
    for (const t of dn.tags) {
      if (!knownTags.has(t)) {
        knownTags.add(t);
        tagList.append(h("option", { value: t }));
      }
    }
    return h("li", { class: "card datanet-card" },
      h("div", { class: "card-head" },
        h("h2", {}, h("a", { href: routeHref({ name: "datanet", id: dn.id }) }, dn.name)),
        h("div", { class: "badges" }, badge(dn.schema), badge(dn.license, "license"), dn.visibility === "private" ? badge("private", "warn") : null)),
      dn.description ? h("p", { class: "description" }, dn.description) : null,
      h("div", { class: "card-foot" },
        h("div", { class: "tags" }, dn.tags.map((t) => {
          const b = h("button", { type: "button", class: "tag", title: `Filter by ${t}` }, `#${t}`);
          b.addEventListener("click", () => { tag.value = t; onFilter(); });
          return b;
        })),
        h("span", { class: "muted small" },
          `${dn.versions} version${dn.versions === 1 ? "" : "s"} · by `, h("code", { title: dn.owner }, shortHex(dn.owner)), ` · ${formatDate(dn.createdAt)}`)));
  }

  function emptyState(): HTMLElement {
    const filtered = q.value.trim() || tag.value.trim();
    if (filtered) {
      const clear = h("button", { type: "button", class: "button" }, "Clear filters");
      clear.addEventListener("click", () => { q.value = ""; tag.value = ""; onFilter(); });
      return h("div", { class: "empty" }, h("p", {}, "No Datanets match these filters."), clear);
    }
    return h("div", { class: "empty" },
      h("p", {}, "No Datanets yet."),
      h("a", { class: "button primary", href: routeHref({ name: "create" }) }, "Create the first one"));
  }

  let debounce: ReturnType<typeof setTimeout> | undefined;
  function onFilter() {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      // Keep the filters in the URL without re-rendering the page (replaceState fires no hashchange).
      history.replaceState(null, "", routeHref({ name: "list", q: q.value.trim(), tag: tag.value.trim().toLowerCase() }));
      void load(true);
    }, 250);
  }
  q.addEventListener("input", onFilter);
  tag.addEventListener("input", onFilter);
  signal.addEventListener("abort", () => clearTimeout(debounce));

  void load(true);

  return h("section", { "aria-labelledby": "list-title" },
    h("div", { class: "page-head" },
      h("h1", { id: "list-title" }, "Datanets"),
      h("a", { class: "button primary", href: routeHref({ name: "create" }) }, "New Datanet")),
    h("form", { class: "filters", role: "search", onsubmit: (e: Event) => { e.preventDefault(); onFilter(); } },
      h("div", { class: "field grow" }, h("label", { for: "dn-q" }, "Search"), q),
      h("div", { class: "field" }, h("label", { for: "dn-tag" }, "Tag"), tag, tagList)),
    list, status, h("div", { class: "more" }, more));
}
