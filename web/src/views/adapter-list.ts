import type { AdapterView } from "../../../core/adapters/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatDate, formatMetric, shortHex } from "../format.ts";
import { routeHref } from "../router.ts";
import { pagedList } from "./paged-list.ts";
import { chainBadge } from "./chain-status.ts";

/** Every adapter (adapters are public listings), or only the account's own, newest first. */
export function adapterListView(ctx: AppContext, signal: AbortSignal, initial: { mine: boolean }): HTMLElement {
  const mine = h("input", { type: "checkbox", id: "adapters-mine", checked: initial.mine });
  const list = h("ul", { class: "adapter-list", "aria-label": "Adapters", "data-testid": "adapters" });
  const status = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", class: "button", hidden: true }, "Load more");
  const load = pagedList<AdapterView>({
    signal,
    status,
    more,
    fetchPage: (cursor, sig) => ctx.api.listAdapters({ owner: mine.checked ? ctx.session()?.address : undefined, cursor }, sig),
    onReset: () => replace(list),
    render: (items) => list.append(...items.map(card)),
    empty: (items, reset) =>
      reset && items.length === 0
        ? h("div", { class: "empty" },
            h("p", {}, mine.checked ? "You have no adapters yet." : "No adapters yet."),
            h("a", { class: "button primary", href: routeHref({ name: "new-job", datanet: "", version: undefined, from: "" }) }, "Start a fine-tune"))
        : undefined,
  });

  function card(a: AdapterView): HTMLElement {
    const me = ctx.session()?.address.toLowerCase() === a.owner.toLowerCase();
    return h("li", { class: "card adapter-card", "data-id": a.id },
      h("div", { class: "card-head" },
        h("h2", {}, h("a", { href: routeHref({ name: "adapter", id: a.id }) }, h("code", {}, a.id))),
        h("div", { class: "badges" }, chainBadge(a.chain), h("code", { class: "badge" }, a.baseModel))),
      h("p", { class: "muted small" },
        "Fingerprint ", h("code", { title: a.fingerprint }, shortHex(a.fingerprint, 10, 8)),
        ` · held-out loss ${formatMetric(a.metrics.evalLoss)} (base ${formatMetric(a.metrics.baseEvalLoss)})`,
        ` · ${a.datanets.length} Datanet version${a.datanets.length === 1 ? "" : "s"}, ${a.contributors.length} contributor${a.contributors.length === 1 ? "" : "s"}`),
      h("p", { class: "muted small" }, "By ", h("code", { title: a.owner }, shortHex(a.owner)), me ? " (you)" : "", ` · ${formatDate(a.createdAt)}`));
  }

  mine.addEventListener("change", () => {
    history.replaceState(null, "", routeHref({ name: "adapters", mine: mine.checked }));
    void load(true);
  });
  void load(true);

  return h("section", { "aria-labelledby": "adapters-title" },
    h("div", { class: "page-head" },
      h("h1", { id: "adapters-title" }, "Adapters"),
      h("a", { class: "button primary", href: routeHref({ name: "new-job", datanet: "", version: undefined, from: "" }) }, "New fine-tune")),
    h("p", { class: "lead" }, "LoRA adapters made by the Model Factory, each registered on chain under its attribution fingerprint."),
    ctx.session() ? h("div", { class: "toolbar" }, h("label", { class: "choice" }, mine, h("span", {}, "Only my adapters"))) : null,
    list, status, h("div", { class: "more" }, more));
}
