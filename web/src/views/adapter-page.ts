import type { AdapterView } from "../../../core/adapters/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatCount, formatDate, shortHex } from "../format.ts";
import { routeHref } from "../router.ts";
import { adapterPricePanel } from "./adapter-price-panel.ts";
import { attributionBars } from "./attribution-bars.ts";
import { playgroundPanel } from "./playground-panel.ts";
import { chainBadge, chainFacts } from "./chain-status.ts";
import { adapterLineage } from "./adapter-lineage.ts";
import { errorBox, hexValue, isAbort, loading, signInPrompt } from "./common.ts";
import { metricsTable } from "./job-widgets.ts";

/** How often a registration still on its way to the chain is re-read. */
const CHAIN_REFRESH_MS = 2000;

/**
 * One adapter: its attribution fingerprint and on-chain registration, the
 * attribution weights per Datanet version and per contributor, the held-out
 * metrics, the hashes the fingerprint binds, and how to use its files.
 */
export function adapterPageView(ctx: AppContext, signal: AbortSignal, id: string): HTMLElement {
  const root = h("section", { class: "adapter-page", "aria-labelledby": "adapter-title" }, loading());
  const chainSlot = h("div", {});
  const badgeSlot = h("span", {});
  document.title = `${id} · Adapters`;

  function renderChain(a: AdapterView) {
    replace(chainSlot, chainFacts(a.chain));
    replace(badgeSlot, chainBadge(a.chain));
  }

  function render(a: AdapterView) {
    const me = ctx.session()?.address.toLowerCase();
    const section = (title: string, idAttr: string, ...content: (Node | string | null)[]) =>
      h("section", { class: "card panel", "aria-labelledby": idAttr }, h("h2", { id: idAttr }, title), ...content);

    // Datanet names come from their own records; ids stand in until they arrive.
    const datanetLabels = new Map<string, HTMLElement[]>();
    const datanetBars = attributionBars(a.datanets.map((d) => {
      const name = h("code", {}, d.id);
      datanetLabels.set(d.id, [...(datanetLabels.get(d.id) ?? []), name]);
      return {
        label: h("a", { href: routeHref({ name: "datanet", id: d.id }), title: `root ${d.root}` }, name, ` v${d.version}`),
        weightBps: d.weightBps,
        detail: `${formatCount(d.tokens)} tokens`,
      };
    }), "Attribution per Datanet version", "datanet-bars");
    for (const [datanetId, labels] of datanetLabels) {
      ctx.api.getDatanet(datanetId, signal).then((dn) => labels.forEach((l) => replace(l, dn.name)), () => {});
    }
    const contributorBars = attributionBars(a.contributors.map((c) => ({
      label: h("span", {}, h("code", { title: c.address }, shortHex(c.address)), me === c.address.toLowerCase() ? h("span", { class: "muted" }, " (you)") : null),
      weightBps: c.weightBps,
      detail: `${formatCount(c.tokens)} tokens`,
    })), "Attribution per contributor", "contributor-bars");

    const files: [string, string, string][] = [
      ["adapter_config.json", a.files.config, "PEFT config: r, lora_alpha, target_modules"],
      ["adapter_model.safetensors", a.files.weights, "the LoRA weights"],
      ["attribution.json", a.files.attribution, "training tokens per contribution, contributor and Datanet version"],
      ["metrics.json", a.files.metrics, "training and held-out metrics"],
    ];
    const adapterDir = a.files.weights.replace(/[^/]*$/, "");
    const downloadStatus = h("div", { role: "status", "aria-live": "polite" });

    /** Asks the API for a fresh 5-minute link, then lets the browser save the file (the store answers as an attachment). */
    const downloadButton = (name: string) => {
      const button = h("button", { type: "button", class: "button small", "data-testid": `download-${name}` }, "Download");
      button.addEventListener("click", async () => {
        button.disabled = true;
        replace(downloadStatus);
        try {
          const link = await ctx.api.adapterFileLink(a.id, name, signal);
          const anchor = h("a", { href: link.url, download: name, hidden: true });
          document.body.append(anchor);
          anchor.click();
          anchor.remove();
        } catch (err) {
          if (!isAbort(err, signal)) replace(downloadStatus, errorBox(err));
        } finally {
          button.disabled = false;
        }
      });
      return button;
    };

    replace(root,
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: routeHref({ name: "adapters", mine: false }) }, "Adapters"), " / ", a.id),
      h("header", { class: "page-head" },
        h("div", {},
          h("h1", { id: "adapter-title" }, "Adapter ", h("code", {}, a.id)),
          h("div", { class: "badges" }, badgeSlot, h("code", { class: "badge" }, a.baseModel), h("span", { class: "badge" }, a.trainerVersion))),
        h("a", { class: "button", href: routeHref({ name: "job", id: a.jobId }) }, "Training job →")),
      h("div", { class: "fingerprint card", "data-testid": "fingerprint", "data-value": a.fingerprint },
        h("span", { class: "muted small" }, "Attribution fingerprint"),
        hexValue(a.fingerprint, a.fingerprint),
        h("p", { class: "hint" },
          "keccak256 over the base model's hash, the adapter weights' hash, the training-config hash and the Datanet versions with their weights; ",
          "anyone can recompute it from the files below and check it against the AdapterRegistry contract (see docs/attribution.md).")),
      h("div", { class: "grid" },
        section("On chain", "chain-title", chainSlot),
        section("Owner", "owner-title",
          h("dl", { class: "facts" },
            h("dt", {}, "Owner"), h("dd", {}, hexValue(a.owner, shortHex(a.owner)), me === a.owner.toLowerCase() ? h("span", { class: "muted small" }, " (you)") : null),
            h("dt", {}, "Created"), h("dd", {}, formatDate(a.createdAt)),
            h("dt", {}, "Job"), h("dd", {}, h("a", { href: routeHref({ name: "job", id: a.jobId }) }, h("code", {}, a.jobId)))))),
      section("Lineage", "lineage-title", adapterLineage(ctx, a, signal)),
      section("Playground", "playground-title", ctx.session()
        ? playgroundPanel(ctx, a, signal)
        : signInPrompt("to chat with this adapter: each call is made, and if the adapter is priced paid, by your account.")),
      section("Price", "price-title", adapterPricePanel(ctx, a.id, me === a.owner.toLowerCase(), signal)),
      section("Attribution", "attribution-title",
        h("p", { class: "hint" }, "Shares of the training tokens actually used (held-out records excluded), in basis points: 10 000 = 100%. The per-version weights are bound into the fingerprint; the per-contributor weights split the adapter's fees."),
        h("div", { class: "grid bars-grid" },
          h("div", {}, h("h3", {}, "Datanet versions"), datanetBars),
          h("div", {}, h("h3", {}, "Contributors"), contributorBars))),
      section("Evaluation", "eval-title", metricsTable(a.metrics)),
      section("Use it", "use-title",
        h("p", {}, "The adapter is in PEFT layout (", h("code", {}, "adapter_config.json"), " + ", h("code", {}, "adapter_model.safetensors"),
          "), in the platform's blob store under the job's output, ", h("code", {}, adapterDir),
          ". Download the two files into one folder (each link is made when you click and works for 5 minutes) and load it with PEFT (or vLLM, LoRAX) on top of the base model."),
        h("div", { class: "table-wrap" },
          h("table", { class: "table" },
            h("caption", { class: "visually-hidden" }, "Adapter files"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "File"), h("th", { scope: "col" }, "Blob key"), h("th", { scope: "col" }, "What"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Download")))),
            h("tbody", {}, files.map(([name, key, what]) => h("tr", {}, h("td", {}, h("code", {}, name)), h("td", { class: "wrap" }, h("code", {}, key)), h("td", {}, what), h("td", {}, ctx.session() ? downloadButton(name) : h("span", { class: "muted small" }, "sign in")))))),
          ctx.session() ? null : signInPrompt("to download the files (each link is made for your account).")),
        downloadStatus,
        h("pre", { class: "code-block" }, h("code", {},
          "from transformers import AutoModelForCausalLM\n" +
          "from peft import PeftModel\n\n" +
          `base = AutoModelForCausalLM.from_pretrained("path/to/${a.baseModel}")\n` +
          `model = PeftModel.from_pretrained(base, "path/to/${a.id}")  # the folder holding the two files\n`)),
        h("h3", {}, "What the fingerprint binds"),
        h("dl", { class: "facts" },
          h("dt", {}, "Base model hash"), h("dd", {}, hexValue(a.baseModelHash, shortHex(a.baseModelHash, 10, 8))),
          h("dt", {}, "Weights hash"), h("dd", {}, hexValue(a.weightsHash, shortHex(a.weightsHash, 10, 8))),
          h("dt", {}, "Training config hash"), h("dd", {}, hexValue(a.trainingConfigHash, shortHex(a.trainingConfigHash, 10, 8))),
          h("dt", {}, "LoRA"), h("dd", {}, h("code", {}, `r=${a.lora.rank} alpha=${a.lora.alpha} dropout=${a.lora.dropout} · ${a.lora.targetModules.join(", ")}`)))));
    renderChain(a);
  }

  void (async () => {
    let rendered = false;
    try {
      let adapter = await ctx.api.getAdapter(id, signal);
      render(adapter);
      rendered = true;
      // Chain sync registers the adapter shortly after the job ends: follow it until it settles.
      while (adapter.chain.status === "pending" || adapter.chain.status === "submitted") {
        await new Promise((r) => setTimeout(r, CHAIN_REFRESH_MS));
        if (signal.aborted) return;
        adapter = await ctx.api.getAdapter(id, signal);
        renderChain(adapter);
      }
    } catch (err) {
      if (isAbort(err, signal)) return;
      if (rendered) chainSlot.append(errorBox(err));
      else replace(root, errorBox(err), h("p", {}, h("a", { href: routeHref({ name: "adapters", mine: false }) }, "← Back to adapters")));
    }
  })();

  return root;
}
