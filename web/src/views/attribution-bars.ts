import { h } from "../dom.ts";
import { formatBps } from "../format.ts";

export interface AttributionBar {
  /** What the weight belongs to: a Datanet version, a contributor. */
  label: Node | string;
  /** Weight in basis points (10 000 = 100%). */
  weightBps: number;
  /** A note beside the value, e.g. the token count. */
  detail?: string;
}

/**
 * Attribution weights as horizontal bars, widest first; each bar's width is
 * its share (basis points → %), so the bars of one list add up to 100%.
 */
export function attributionBars(items: readonly AttributionBar[], label: string, testId: string): HTMLElement {
  if (items.length === 0) return h("p", { class: "muted empty" }, "No attribution recorded.");
  const sorted = [...items].sort((a, b) => b.weightBps - a.weightBps);
  return h("ul", { class: "bars", "aria-label": label, "data-testid": testId },
    sorted.map((item) => {
      const fill = h("span", { class: "bar-fill" });
      // CSSOM, not a style attribute, so a strict Content-Security-Policy still allows it.
      fill.style.width = `${Math.min(100, Math.max(0, item.weightBps / 100))}%`;
      return h("li", { class: "bar-row", "data-bps": item.weightBps },
        h("span", { class: "bar-label" }, item.label),
        h("span", { class: "bar-track", role: "img", "aria-label": formatBps(item.weightBps) }, fill),
        h("span", { class: "bar-value" }, formatBps(item.weightBps), item.detail ? h("span", { class: "muted small" }, ` · ${item.detail}`) : null));
    }));
}
