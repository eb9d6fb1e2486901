import uPlot from "uplot";
import { h, replace } from "../dom.ts";

/** One series of a line chart: a line, or points only (held-out loss, say). */
export interface SeriesSpec {
  label: string;
  /** A CSS custom property of styles.css, e.g. "--accent", so light and dark themes both read. */
  colorVar: string;
  /** Points only, no line: for sparse series like evaluations. */
  pointsOnly?: boolean;
  /** Formats a value for the legend and the table. */
  format: (v: number) => string;
}

export interface LineChartSpec {
  /** Accessible name of the chart and caption of its data table. */
  title: string;
  xLabel: string;
  yLabel: string;
  series: SeriesSpec[];
  /** Formats an x value for the axis, the legend and the table. */
  formatX: (x: number) => string;
  height?: number;
  /** The table of values under the chart holds at most this many rows (evenly thinned beyond). */
  tableRows?: number;
}

export interface LineChart {
  element: HTMLElement;
  /**
   * Redraws: `xs` ascending, one array per series of the same length (null
   * where a series has no value); `xMax` holds the x axis open (a run's
   * total steps); `summary` is the sentence a screen reader hears for it.
   */
  update(xs: readonly number[], ys: readonly (readonly (number | null)[])[], xMax?: number, summary?: string): void;
}

/**
 * A line chart drawn by uPlot (a 50 KB canvas charting library) with what a
 * canvas lacks for people who cannot see it: an accessible name with a
 * one-line summary, and the numbers in a table behind a disclosure. It
 * follows its container's width and the page's light or dark colours.
 */
export function lineChart(spec: LineChartSpec): LineChart {
  const host = h("div", { class: "uplot-host", role: "img", "aria-label": spec.title });
  const summary = h("p", { class: "muted small chart-summary" });
  const table = h("table", { class: "table chart-table" });
  const details = h("details", { class: "chart-data" }, h("summary", {}, "Show the numbers"), h("div", { class: "table-wrap" }, table));
  const element = h("div", { class: "chart" }, host, summary, details);
  let plot: uPlot | undefined;
  let last: { xs: readonly number[]; ys: readonly (readonly (number | null)[])[]; xMax: number | undefined } = { xs: [], ys: spec.series.map(() => []), xMax: undefined };

  const color = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#4f46e5";
  const width = () => Math.max(320, Math.floor(host.getBoundingClientRect().width || host.parentElement?.getBoundingClientRect().width || 720));

  function options(): uPlot.Options {
    const axis = { stroke: color("--muted"), grid: { stroke: color("--border"), width: 1 }, ticks: { stroke: color("--border"), width: 1 } };
    return {
      width: width(),
      height: spec.height ?? 300,
      scales: { x: { time: false, range: (_u, min, max) => [Math.min(min, 0), Math.max(max, last.xMax ?? max, 1)] } },
      axes: [
        { ...axis, label: spec.xLabel, values: (_u, vals) => vals.map((v) => spec.formatX(v)) },
        { ...axis, label: spec.yLabel, size: 60 },
      ],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: spec.xLabel, value: (_u, v) => (v == null ? "—" : spec.formatX(v)) },
        ...spec.series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: color(s.colorVar),
          width: 2,
          value: (_u, v) => (v == null ? "—" : s.format(v)),
          ...(s.pointsOnly
            ? { paths: () => null, points: { show: true, size: 9, width: 2.5, stroke: color(s.colorVar), fill: color("--surface") } }
            : { spanGaps: true, points: { show: (u: uPlot) => (u.data[0]?.length ?? 0) <= 1 } }),
        })),
      ],
    };
  }

  function draw() {
    const data = [Float64Array.from(last.xs), ...last.ys.map((y) => y.map((v) => v ?? null))] as unknown as uPlot.AlignedData;
    if (!plot) {
      // uPlot measures the page, so it is made once the host is in the document.
      if (!host.isConnected) return;
      plot = new uPlot(options(), data, host);
    } else {
      plot.setData(data);
    }
  }

  function renderTable() {
    const { xs, ys } = last;
    const max = spec.tableRows ?? 50;
    const stride = Math.max(1, Math.ceil(xs.length / max));
    const rows: number[] = [];
    for (let i = 0; i < xs.length; i += stride) rows.push(i);
    if (xs.length > 0 && rows.at(-1) !== xs.length - 1) rows.push(xs.length - 1);
    replace(table,
      h("caption", {}, `${spec.title}${stride > 1 ? ` (every ${stride}th of ${xs.length} points)` : ""}`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, spec.xLabel), spec.series.map((s) => h("th", { scope: "col", class: "num" }, s.label)))),
      h("tbody", {}, rows.map((i) => h("tr", {},
        h("th", { scope: "row" }, spec.formatX(xs[i]!)),
        spec.series.map((s, k) => {
          const v = ys[k]?.[i];
          return h("td", { class: "num" }, v == null ? "—" : s.format(v));
        })))));
  }

  // Follow the container's width; attach when the view is put in the page.
  const resize = new ResizeObserver(() => {
    if (!host.isConnected) return;
    if (!plot) return draw();
    plot.setSize({ width: width(), height: spec.height ?? 300 });
  });
  resize.observe(host);

  return {
    element,
    update(xs, ys, xMax, text) {
      last = { xs, ys, xMax };
      element.dataset.points = String(xs.length);
      const sentence = text ?? `${spec.title}: ${xs.length} point${xs.length === 1 ? "" : "s"}.`;
      host.setAttribute("aria-label", `${spec.title}. ${sentence}`);
      replace(summary, sentence);
      draw();
      renderTable();
    },
  };
}
