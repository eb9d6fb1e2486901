import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatBps, formatDate, shortHex } from "../format.ts";
import { routeHref } from "../router.ts";
import { badge, errorBox, hexValue, isAbort, loading, signInPrompt } from "./common.ts";
import { contributionsTable } from "./contributions-table.ts";
import { datanetStatsPanel } from "./datanet-stats-panel.ts";
import { proofViewer } from "./proof-viewer.ts";
import { uploadZone } from "./upload-zone.ts";
import { versionsPanel } from "./versions-panel.ts";

/**
 * One Datanet: its facts and statistics, the upload zone, versions,
 * contributions (with the file each came from), the proof viewer and the
 * adapters trained on it.
 */
export function datanetPageView(ctx: AppContext, signal: AbortSignal, id: string): HTMLElement {
  const root = h("section", { class: "datanet-page" }, loading());

  void (async () => {
    try {
      const dn = await ctx.api.getDatanet(id, signal);
      const me = ctx.session()?.address.toLowerCase();
      const isOwner = me === dn.owner.toLowerCase();
      document.title = `${dn.name} · Datanets`;

      // "Fine-tune" appears once a published version exists; it preselects the latest.
      const fineTune = h("a", { class: "button primary", "data-testid": "fine-tune", hidden: true }, "Fine-tune");
      const proofs = proofViewer(ctx, dn.id);
      const contributions = contributionsTable(ctx, dn.id, signal, (c) => proofs.check(c.id));
      const versions = versionsPanel(ctx, dn.id, dn.versions, isOwner, signal, (list) => {
        proofs.setVersions(list);
        contributions.setCanVerify(list.length > 0);
        const latest = list[0]?.version;
        fineTune.hidden = latest === undefined;
        fineTune.setAttribute("href", routeHref({ name: "new-job", datanet: dn.id, version: latest, from: "" }));
      });

      const stats = datanetStatsPanel((sig) => ctx.api.getDatanetStats(dn.id, sig), signal);
      const refreshStats = () => void stats.refresh().then((st) => {
        if (!st) return;
        versions.setUnpublished(st.unpublished);
        contributions.setUploadNames(new Map(st.uploads.map((u) => [u.uploadId, u.filename])));
      });
      refreshStats();
      const adapters = h("div", { "data-testid": "datanet-adapters" }, loading("Looking for adapters…"));
      void adaptersTrainedOn(ctx, dn.id, signal).then((list) => replace(adapters, list.length === 0
        ? h("p", { class: "muted empty" }, "No adapter you can see has been trained on this Datanet yet.")
        : h("ul", { class: "plain adapter-links" }, list.map((a) => h("li", {},
          h("a", { href: routeHref({ name: "adapter", id: a.id }) }, h("code", {}, a.id)),
          h("span", { class: "muted small" }, ` · ${a.baseModel} · ${a.datanets.filter((d) => d.id === dn.id).map((d) => `v${d.version} (${formatBps(d.weightBps)} of its training)`).join(", ")}`))))),
        (err: unknown) => { if (!isAbort(err, signal)) replace(adapters, errorBox(err)); });

      const section = (title: string, idAttr: string, ...content: (HTMLElement | null)[]) =>
        h("section", { class: "card panel", "aria-labelledby": idAttr }, h("h2", { id: idAttr }, title), ...content);

      replace(root,
        h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: routeHref({ name: "list", q: "", tag: "" }) }, "Datanets"), " / ", dn.name),
        h("header", { class: "datanet-head" },
          h("div", {},
            h("h1", {}, dn.name),
            dn.description ? h("p", { class: "description" }, dn.description) : null,
            h("div", { class: "badges" },
              badge(dn.schema), badge(dn.license, "license"), badge(dn.visibility, dn.visibility === "private" ? "warn" : ""),
              ...dn.tags.map((t) => h("a", { class: "tag", href: routeHref({ name: "list", q: "", tag: t }) }, `#${t}`)))),
          h("div", { class: "head-side" },
            h("div", { class: "row end" }, fineTune),
            h("dl", { class: "facts" },
              h("dt", {}, "Owner"), h("dd", {}, hexValue(dn.owner, shortHex(dn.owner)), isOwner ? h("span", { class: "muted small" }, " (you)") : null),
              h("dt", {}, "Created"), h("dd", {}, formatDate(dn.createdAt)),
              h("dt", {}, "Id"), h("dd", {}, h("code", {}, dn.id))))),
        h("div", { class: "grid" },
          section("Contribute data", "upload-title", ctx.session()
            ? uploadZone(ctx, dn.id, signal, () => {
              contributions.refresh();
              refreshStats();
            })
            : signInPrompt("to contribute data to this Datanet: your records keep your address, license and content hash.")),
          section("Versions", "versions-title", versions.element)),
        section("Statistics", "stats-title", stats.element),
        section("Contributions", "contributions-title", contributions.element),
        section("Inclusion proof", "proof-title",
          h("p", { class: "hint" }, "Pick a version and a contribution: its Merkle proof is fetched from the API and checked here with OpenZeppelin's StandardMerkleTree, the same leaf hashing the on-chain verifier uses."),
          proofs.element),
        section("Adapters trained on it", "adapters-title", adapters));
    } catch (err) {
      if (isAbort(err, signal)) return;
      replace(root, errorBox(err), h("p", {}, h("a", { href: routeHref({ name: "list", q: "", tag: "" }) }, "← Back to Datanets")));
    }
  })();

  return root;
}

/** Adapters this account can see whose training included a version of the Datanet (the first 5 pages of the list). */
async function adaptersTrainedOn(ctx: AppContext, datanetId: string, signal: AbortSignal) {
  const found = [];
  let cursor: string | undefined;
  for (let page = 0; page < 5; page++) {
    const res = await ctx.api.listAdapters(cursor ? { cursor } : {}, signal);
    found.push(...res.items.filter((a) => a.datanets.some((d) => d.id === datanetId)));
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  return found;
}
