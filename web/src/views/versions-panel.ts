import type { DatanetVersion } from "../../../core/datanets/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatCount, formatDate, shortHex } from "../format.ts";
import { routeHref } from "../router.ts";
import { errorBox, hexValue, isAbort, loading } from "./common.ts";

/** Versions shown at most; older ones stay reachable through the API. */
const MAX_SHOWN = 25;

export interface VersionsPanel {
  element: HTMLElement;
  /** Newest first. */
  versions(): DatanetVersion[];
}

/**
 * Published versions (root, records, tokens) and, for the owner, the
 * "Publish version" button that freezes accepted contributions into a new root.
 */
export function versionsPanel(
  ctx: AppContext,
  datanetId: string,
  count: number,
  isOwner: boolean,
  signal: AbortSignal,
  onChange: (versions: DatanetVersion[]) => void,
): VersionsPanel {
  let versions: DatanetVersion[] = [];
  const body = h("tbody");
  const table = h("table", { class: "table", "data-testid": "versions", hidden: true },
    h("caption", { class: "visually-hidden" }, "Published versions"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col", class: "num" }, "Version"),
      h("th", { scope: "col" }, "Merkle root"),
      h("th", { scope: "col", class: "num" }, "Records"),
      h("th", { scope: "col", class: "num" }, "Tokens"))),
    body);
  const status = h("div", { "aria-live": "polite" });
  const publish = h("button", { type: "button", class: "button primary", "data-testid": "publish-version" }, "Publish version");

  function render() {
    replace(body, versions.map((v) =>
      h("tr", { "data-version": String(v.version) },
        h("td", { class: "num" }, h("strong", {}, `v${v.version}`), h("div", { class: "muted small" }, formatDate(v.createdAt)),
          // Any published version a person can read can be fine-tuned on.
          h("a", { class: "small", href: routeHref({ name: "new-job", datanet: datanetId, version: v.version, from: "" }), "data-testid": "fine-tune-version", "aria-label": `Fine-tune on v${v.version}` }, "Fine-tune")),
        h("td", {}, hexValue(v.root, shortHex(v.root, 8, 6))),
        h("td", { class: "num" }, formatCount(v.records)),
        h("td", { class: "num" }, formatCount(v.tokens)))));
    table.hidden = versions.length === 0;
    if (versions.length === 0) {
      replace(status, h("p", { class: "muted empty" }, isOwner
        ? "No versions yet. Publishing freezes the accepted contributions into a Merkle root."
        : "No versions published yet."));
    }
    onChange(versions);
  }

  async function load() {
    if (count === 0) return render();
    replace(status, loading());
    try {
      const wanted = Array.from({ length: Math.min(count, MAX_SHOWN) }, (_, i) => count - i);
      versions = await Promise.all(wanted.map((v) => ctx.api.getVersion(datanetId, v, signal)));
      replace(status);
      render();
    } catch (err) {
      if (!isAbort(err, signal)) replace(status, errorBox(err));
    }
  }

  publish.addEventListener("click", async () => {
    publish.disabled = true;
    publish.textContent = "Publishing…";
    replace(status);
    try {
      const v = await ctx.api.publishVersion(datanetId);
      versions = [v, ...versions.filter((x) => x.version !== v.version)];
      render();
      replace(status, h("p", { class: "alert alert-ok", role: "status" }, `Published v${v.version}: ${formatCount(v.records)} records, root ${shortHex(v.root, 10, 8)}.`));
    } catch (err) {
      replace(status, errorBox(err));
    } finally {
      publish.disabled = false;
      publish.textContent = "Publish version";
    }
  });

  void load();

  const element = h("div", { class: "versions" },
    isOwner ? h("div", { class: "toolbar" }, publish) : null,
    h("div", { class: "table-wrap" }, table),
    status);
  return { element, versions: () => versions };
}
