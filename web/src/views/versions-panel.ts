import type { DatanetVersion } from "../../../core/datanets/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatCount, formatDate, shortHex } from "../format.ts";
import { routeHref } from "../router.ts";
import type { ChainStatus } from "../../../core/chain/model.ts";
import { chainBadge } from "./chain-status.ts";
import { errorBox, hexValue, isAbort, loading } from "./common.ts";

/** Versions shown at most; older ones stay reachable through the API. */
const MAX_SHOWN = 25;

export interface VersionsPanel {
  element: HTMLElement;
  /** Newest first. */
  versions(): DatanetVersion[];
  /**
   * How many accepted records no version holds yet: "Publish version" is
   * enabled only when there are some (an empty Datanet, or one with nothing
   * new since the last version, would publish nothing or the same root again),
   * and a publish error from before goes once new records arrive.
   */
  setUnpublished(count: number): void;
}

type ShownVersion = DatanetVersion & { chain?: ChainStatus };

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
  let versions: ShownVersion[] = [];
  let unpublished: number | undefined;
  const body = h("tbody");
  const table = h("table", { class: "table", "data-testid": "versions", hidden: true },
    h("caption", { class: "visually-hidden" }, "Published versions"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col", class: "num" }, "Version"),
      h("th", { scope: "col" }, "Merkle root"),
      h("th", { scope: "col", class: "num" }, "Records"),
      h("th", { scope: "col", class: "num" }, "Tokens"),
      h("th", { scope: "col" }, "On chain"))),
    body);
  const status = h("div", { "aria-live": "polite" });
  const publish = h("button", { type: "button", class: "button primary", "data-testid": "publish-version", disabled: true, "aria-describedby": "publish-hint" }, "Publish version");
  const publishHint = h("p", { class: "hint", id: "publish-hint" });

  function gatePublish() {
    publish.disabled = unpublished === undefined || unpublished === 0;
    replace(publishHint, unpublished === undefined ? ""
      : unpublished > 0 ? `${formatCount(unpublished)} accepted record${unpublished === 1 ? "" : "s"} not in a version yet.`
        : versions.length === 0 ? "Nothing to publish yet: upload data first." : `Nothing new since v${versions[0]?.version}: a version now would have the same root.`);
  }

  function render() {
    replace(body, versions.map((v) =>
      h("tr", { "data-version": String(v.version) },
        h("td", { class: "num" }, h("strong", {}, `v${v.version}`), h("div", { class: "muted small" }, formatDate(v.createdAt)),
          // Any published version a person can read can be fine-tuned on.
          h("a", { class: "small", href: routeHref({ name: "new-job", datanet: datanetId, version: v.version, from: "" }), "data-testid": "fine-tune-version", "aria-label": `Fine-tune on v${v.version}` }, "Fine-tune")),
        h("td", {}, hexValue(v.root, shortHex(v.root, 8, 6))),
        h("td", { class: "num" }, formatCount(v.records)),
        h("td", { class: "num" }, formatCount(v.tokens)),
        h("td", { "data-testid": "version-chain" }, v.chain
          ? [chainBadge(v.chain), v.chain.txHash ? h("div", {}, hexValue(v.chain.txHash, shortHex(v.chain.txHash, 6, 4))) : null]
          : h("span", { class: "muted" }, "—")))));
    gatePublish();
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
      unpublished = 0;
      render();
      // Chain sync writes it within moments: show its transaction once it is there.
      void ctx.api.getVersion(datanetId, v.version, signal).then((full) => {
        versions = versions.map((x) => (x.version === full.version ? full : x));
        render();
      }, () => undefined);
      replace(status, h("p", { class: "alert alert-ok", role: "status" }, `Published v${v.version}: ${formatCount(v.records)} records, root ${shortHex(v.root, 10, 8)}.`));
    } catch (err) {
      replace(status, errorBox(err));
    } finally {
      publish.textContent = "Publish version";
      gatePublish();
    }
  });

  void load();

  const element = h("div", { class: "versions" },
    isOwner ? h("div", { class: "toolbar" }, publish, publishHint) : null,
    h("div", { class: "table-wrap" }, table),
    status);
  return {
    element,
    versions: () => versions,
    setUnpublished(count) {
      const grew = unpublished !== undefined && count > unpublished;
      unpublished = count;
      // New records make an earlier "nothing to publish" error stale.
      if (grew && status.querySelector(".alert-error")) replace(status);
      gatePublish();
    },
  };
}
