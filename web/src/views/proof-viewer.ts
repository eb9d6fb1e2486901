import type { DatanetVersion } from "../../../core/datanets/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { shortHex } from "../format.ts";
import { verifyProof } from "../proofs/verify-proof.ts";
import { errorBox } from "./common.ts";

export interface ProofViewer {
  element: HTMLElement;
  /** Offers these versions in the picker (newest first). */
  setVersions(versions: DatanetVersion[]): void;
  /** Fills in a contribution, fetches its proof against the newest version and verifies it. */
  check(contributionId: string): void;
}

/**
 * Fetches a contribution's inclusion proof and verifies it here, in the
 * browser, with StandardMerkleTree.verify: the API is not trusted to say ✓.
 */
export function proofViewer(ctx: AppContext, datanetId: string): ProofViewer {
  let versions: DatanetVersion[] = [];
  const version = h("select", { id: "proof-version", name: "version" });
  const contribution = h("input", { id: "proof-contribution", name: "contribution", placeholder: "contribution id", required: true, spellcheck: "false", autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "button" }, "Fetch & verify");
  const result = h("div", { class: "proof-result", "data-testid": "proof-result", "aria-live": "polite", tabindex: -1 });
  const form = h("form", { class: "proof-form" },
    h("div", { class: "field" }, h("label", { for: "proof-version" }, "Version"), version),
    h("div", { class: "field grow" }, h("label", { for: "proof-contribution" }, "Contribution"), contribution),
    h("div", { class: "field end" }, submit));

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void run();
  });

  async function run(fromRow = false) {
    const id = contribution.value.trim();
    const v = versions.find((x) => String(x.version) === version.value);
    if (!id || !v) {
      replace(result, h("p", { class: "field-error" }, !v ? "Publish a version first." : "Enter a contribution id."));
      return;
    }
    submit.disabled = true;
    replace(result, h("p", { class: "muted" }, "Fetching proof…"));
    try {
      const proof = await ctx.api.getProof(datanetId, v.version, id);
      const check = verifyProof(proof, v.root);
      const [leafAddress, leafHash, leafTokens] = proof.leaf;
      replace(result,
        h("div", { class: `verdict ${check.ok ? "ok" : "bad"}`, "data-testid": "proof-verdict", "data-ok": String(check.ok) },
          h("span", { class: "mark", "aria-hidden": "true" }, check.ok ? "✓" : "✗"),
          h("div", {},
            h("strong", {}, check.ok ? `Included in v${v.version}` : `Not verified against v${v.version}`),
            h("p", { class: "small" }, check.ok
              ? "Verified in your browser: the leaf hashes up the proof to the version's published root."
              : check.error ?? (check.included ? "The proof's root differs from the published root." : "The leaf does not hash up to the root.")))),
        h("dl", { class: "proof-details" },
          h("dt", {}, "Root"), h("dd", {}, h("code", { title: proof.root }, shortHex(proof.root, 12, 10)), " ", check.rootMatches ? "matches the published root" : "does NOT match the published root"),
          h("dt", {}, "Leaf encoding"), h("dd", {}, h("code", {}, `(${proof.leafEncoding.join(", ")})`)),
          h("dt", {}, "Contributor"), h("dd", {}, h("code", {}, leafAddress)),
          h("dt", {}, "Content hash"), h("dd", {}, h("code", { class: "wrap" }, leafHash)),
          h("dt", {}, "Tokens"), h("dd", {}, leafTokens),
          h("dt", {}, `Proof (${proof.proof.length} sibling${proof.proof.length === 1 ? "" : "s"})`),
          h("dd", {}, proof.proof.length === 0
            ? h("span", { class: "muted" }, "none: the leaf is the root")
            : h("ol", { class: "proof-path" }, proof.proof.map((p) => h("li", {}, h("code", { title: p }, shortHex(p, 12, 10))))))));
    } catch (err) {
      replace(result, errorBox(err));
    } finally {
      submit.disabled = false;
      // The verdict is where the person's attention goes: bring it on screen and move focus there.
      if (fromRow) {
        result.scrollIntoView({ block: "center" });
        result.focus({ preventScroll: true });
      }
    }
  }

  const element = h("div", { class: "proof-viewer" }, form, result);
  return {
    element,
    setVersions(next) {
      versions = next;
      const selected = version.value;
      replace(version, next.map((v) => h("option", { value: String(v.version) }, `v${v.version}`)));
      if (next.some((v) => String(v.version) === selected)) version.value = selected;
      submit.disabled = next.length === 0;
    },
    check(id) {
      contribution.value = id;
      if (versions[0]) version.value = String(versions[0].version);
      void run(true);
    },
  };
}
