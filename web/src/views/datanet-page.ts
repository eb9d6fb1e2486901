import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatDate } from "../format.ts";
import { routeHref } from "../router.ts";
import { badge, errorBox, hexValue, isAbort, loading } from "./common.ts";
import { contributionsTable } from "./contributions-table.ts";
import { proofViewer } from "./proof-viewer.ts";
import { uploadZone } from "./upload-zone.ts";
import { versionsPanel } from "./versions-panel.ts";

/** One Datanet: its facts, the upload zone, contributions, versions and the proof viewer. */
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
              h("dt", {}, "Owner"), h("dd", {}, hexValue(dn.owner, dn.owner), isOwner ? h("span", { class: "muted small" }, " (you)") : null),
              h("dt", {}, "Created"), h("dd", {}, formatDate(dn.createdAt)),
              h("dt", {}, "Id"), h("dd", {}, h("code", {}, dn.id))))),
        h("div", { class: "grid" },
          section("Contribute data", "upload-title", uploadZone(ctx, dn.id, signal, () => contributions.refresh())),
          section("Versions", "versions-title", versions.element)),
        section("Contributions", "contributions-title", contributions.element),
        section("Inclusion proof", "proof-title",
          h("p", { class: "hint" }, "Pick a version and a contribution: its Merkle proof is fetched from the API and checked here with OpenZeppelin's StandardMerkleTree, the same leaf hashing the on-chain verifier uses."),
          proofs.element));
    } catch (err) {
      if (isAbort(err, signal)) return;
      replace(root, errorBox(err), h("p", {}, h("a", { href: routeHref({ name: "list", q: "", tag: "" }) }, "← Back to Datanets")));
    }
  })();

  return root;
}
