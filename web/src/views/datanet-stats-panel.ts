import type { DatanetStats } from "../../../core/datanets/stats-model.ts";
import { h, replace } from "../dom.ts";
import { formatCount, shortHex } from "../format.ts";
import { badge, errorBox, isAbort } from "./common.ts";

export interface DatanetStatsPanel {
  element: HTMLElement;
  /** Reloads (after an upload or a new version); resolves with the figures. */
  refresh(): Promise<DatanetStats | undefined>;
}

/**
 * A Datanet at a glance: accepted and rejected records, tokens, contributors,
 * a histogram of record lengths (bars drawn in CSS over a real table, so a
 * screen reader reads the numbers) and the uploads by file name.
 */
export function datanetStatsPanel(load: (signal: AbortSignal) => Promise<DatanetStats>, signal: AbortSignal): DatanetStatsPanel {
  const element = h("div", { class: "datanet-stats", "data-testid": "datanet-stats" });

  function render(s: DatanetStats) {
    const max = Math.max(1, ...s.lengthHistogram.map((b) => b.count));
    // Empty buckets past the longest record say nothing: the table stops at the last filled one.
    const last = s.lengthHistogram.findLastIndex((b) => b.count > 0);
    const buckets = s.lengthHistogram.slice(0, Math.max(1, last + 1));
    const stat = (label: string, value: string, key: string) => h("div", { class: "stat" }, h("dt", {}, label), h("dd", { "data-stat": key }, value));
    replace(element,
      h("dl", { class: "stats" },
        stat("Accepted records", formatCount(s.accepted), "accepted"),
        stat("Rejected", formatCount(s.rejected), "rejected"),
        stat("Tokens", formatCount(s.tokens), "tokens"),
        stat("Contributors", formatCount(s.contributors), "contributors"),
        stat("Not in a version yet", formatCount(s.unpublished), "unpublished")),
      s.complete ? null : h("p", { class: "hint" }, "A very large Datanet: these figures cover its first 200,000 contributions."),
      s.accepted === 0 ? null : h("div", { class: "table-wrap" },
        h("table", { class: "table histogram", "data-testid": "length-histogram" },
          h("caption", {}, "Record length in tokens (accepted records)"),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Tokens"), h("th", { scope: "col", class: "num" }, "Records"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Share")))),
          h("tbody", {}, buckets.map((b) => h("tr", { "data-count": b.count },
            h("th", { scope: "row" }, b.maxTokens === null ? `${formatCount(b.minTokens)}+` : `${formatCount(b.minTokens)}–${formatCount(b.maxTokens)}`),
            h("td", { class: "num" }, formatCount(b.count)),
            h("td", { class: "bar-cell", "aria-hidden": "true" }, h("span", { class: "hbar", style: `width: ${(100 * b.count) / max}%` }))))))),
      s.uploads.length === 0 ? null : h("details", { class: "uploads-list" },
        h("summary", {}, `${s.uploads.length} upload${s.uploads.length === 1 ? "" : "s"}`),
        h("ul", { class: "plain" }, s.uploads.map((u) => h("li", {},
          h("span", { class: "filename" }, u.filename), " ",
          badge(u.status, u.status === "done" ? "ok" : u.status === "failed" ? "bad" : ""), " ",
          h("span", { class: "muted small" }, `${formatCount(u.accepted)} accepted · ${formatCount(u.rejected)} rejected · by `, h("code", { title: u.contributor }, shortHex(u.contributor))))))));
  }

  async function refresh() {
    try {
      const s = await load(signal);
      render(s);
      return s;
    } catch (err) {
      if (!isAbort(err, signal)) replace(element, errorBox(err));
      return undefined;
    }
  }

  return { element, refresh };
}
