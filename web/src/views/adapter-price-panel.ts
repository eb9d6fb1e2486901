import type { AdapterPrice } from "../api-client.ts";
import type { AppContext } from "../app-context.ts";
import { ApiError } from "../api-error.ts";
import { h, replace } from "../dom.ts";
import { formatDate } from "../format.ts";
import { chainBadge } from "./chain-status.ts";
import { errorBox, isAbort, loading } from "./common.ts";

/** Base units are whole numbers written in decimal: what the API's BaseUnits accepts. */
const BASE_UNITS = /^(0|[1-9]\d{0,77})$/;

/**
 * An adapter's price per call and per 1 000 output tokens, in the payment
 * token's base units. Its owner can change it here; the change goes to the
 * AdapterRegistry contract, and its on-chain status shows when the API
 * reports one.
 */
export function adapterPricePanel(ctx: AppContext, adapterId: string, isOwner: boolean, signal: AbortSignal): HTMLElement {
  const facts = h("div", { "data-testid": "adapter-price" }, loading("Loading the price…"));
  const status = h("div", { "aria-live": "polite" });
  const element = h("div", { class: "price-panel" }, facts, status);

  function show(p: AdapterPrice) {
    const free = p.perCall === "0" && p.perThousandOutputTokens === "0";
    replace(facts, h("dl", { class: "facts" },
      h("dt", {}, "Per call"), h("dd", { "data-price": "perCall" }, h("code", {}, p.perCall)),
      h("dt", {}, "Per 1,000 output tokens"), h("dd", { "data-price": "perThousandOutputTokens" }, h("code", {}, p.perThousandOutputTokens)),
      h("dt", {}, "Set"), h("dd", {}, p.updatedAt ? formatDate(p.updatedAt) : "never (free)"),
      p.chain ? [h("dt", {}, "On chain"), h("dd", { "data-testid": "price-chain" }, chainBadge(p.chain))] : null),
      h("p", { class: "hint" }, free
        ? "Free: any signed-in key may call it."
        : "Token base units. A call costs the per-call amount plus the per-1,000 amount for each 1,000 completion tokens generated (rounded up)."));
    if (isOwner) {
      perCall.value = p.perCall;
      perThousand.value = p.perThousandOutputTokens;
    }
  }

  const perCall = h("input", { id: "price-per-call", name: "perCall", inputmode: "numeric", autocomplete: "off", "aria-describedby": "price-per-call-error" });
  const perThousand = h("input", { id: "price-per-1k", name: "perThousandOutputTokens", inputmode: "numeric", autocomplete: "off", "aria-describedby": "price-per-1k-error" });
  const perCallError = h("p", { class: "field-error", id: "price-per-call-error", "aria-live": "polite" });
  const perThousandError = h("p", { class: "field-error", id: "price-per-1k-error", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "button primary", "data-testid": "save-price" }, "Save price");
  const form = h("form", { class: "form price-form", novalidate: true },
    h("div", { class: "field-grid" },
      h("div", { class: "field" }, h("label", { for: "price-per-call" }, "Price per call"), perCall, perCallError),
      h("div", { class: "field" }, h("label", { for: "price-per-1k" }, "Price per 1,000 output tokens"), perThousand, perThousandError)),
    h("div", { class: "row" }, save));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(status);
    const checks: [HTMLInputElement, HTMLElement][] = [[perCall, perCallError], [perThousand, perThousandError]];
    let first: HTMLInputElement | undefined;
    for (const [input, error] of checks) {
      const ok = BASE_UNITS.test(input.value.trim());
      replace(error, ok ? "" : "A whole number of token base units, like 0 or 1000.");
      if (ok) input.removeAttribute("aria-invalid");
      else {
        input.setAttribute("aria-invalid", "true");
        first ??= input;
      }
    }
    if (first) return first.focus();
    save.disabled = true;
    try {
      const p = await ctx.api.setAdapterPrice(adapterId, { perCall: perCall.value.trim(), perThousandOutputTokens: perThousand.value.trim() });
      show(p);
      replace(status, h("p", { class: "alert alert-ok", role: "status" }, "Price saved."));
    } catch (err) {
      replace(status, errorBox(err));
      if (err instanceof ApiError && err.status === 403) form.hidden = true;
    } finally {
      save.disabled = false;
    }
  });

  if (isOwner) element.append(form);
  ctx.api.getAdapterPrice(adapterId, signal).then(show, (err: unknown) => { if (!isAbort(err, signal)) replace(facts, errorBox(err)); });
  return element;
}
