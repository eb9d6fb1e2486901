import { lossChartGeometry, type ChartBox, type LossPointLike } from "../charts/loss-chart-geometry.ts";
import { h, replace, svg } from "../dom.ts";
import { formatMetric } from "../format.ts";

export interface LossChart {
  element: HTMLElement;
  /** Redraws with the job's current curve; `totalSteps` fixes the x axis while training runs. */
  update(points: readonly LossPointLike[], totalSteps: number | null | undefined): void;
}

const BOX: ChartBox = { width: 720, height: 300, margin: { top: 14, right: 18, bottom: 46, left: 58 } };
let chartCount = 0;

/**
 * The loss curve as an inline SVG line chart: training loss per step as a
 * line, held-out loss as points, grid lines, both axes with ticks and titles.
 * Drawn from scratch on each update (a few hundred points at most).
 */
export function lossChart(): LossChart {
  const uid = `loss-chart-${++chartCount}`;
  const title = svg("title", { id: `${uid}-title` }, "Loss curve");
  const desc = svg("desc", { id: `${uid}-desc` });
  const layer = svg("g");
  const chart = svg("svg", {
    class: "loss-chart",
    viewBox: `0 0 ${BOX.width} ${BOX.height}`,
    role: "img",
    "aria-labelledby": `${uid}-title ${uid}-desc`,
    "data-testid": "loss-chart",
    preserveAspectRatio: "xMidYMid meet",
  }, title, desc, layer);
  const legend = h("div", { class: "chart-legend", "aria-hidden": "true" },
    h("span", { class: "key key-train" }, "Training loss"),
    h("span", { class: "key key-eval" }, "Held-out loss"));
  const empty = h("p", { class: "muted chart-empty" }, "The curve appears with the first training step.");

  function update(points: readonly LossPointLike[], totalSteps: number | null | undefined) {
    const g = lossChartGeometry(points, BOX, totalSteps);
    const { plot } = g;
    const bottom = plot.y + plot.height;
    replace(layer,
      // Horizontal grid lines with the loss labels.
      g.yTicks.map((t) => svg("g", { class: "tick" },
        svg("line", { class: "grid", x1: plot.x, x2: plot.x + plot.width, y1: t.at, y2: t.at }),
        svg("text", { x: plot.x - 8, y: t.at, "text-anchor": "end", "dominant-baseline": "middle" }, t.label))),
      g.xTicks.map((t) => svg("g", { class: "tick" },
        svg("line", { class: "tick-mark", x1: t.at, x2: t.at, y1: bottom, y2: bottom + 5 }),
        svg("text", { x: t.at, y: bottom + 18, "text-anchor": "middle" }, t.label))),
      svg("line", { class: "axis", x1: plot.x, x2: plot.x + plot.width, y1: bottom, y2: bottom }),
      svg("line", { class: "axis", x1: plot.x, x2: plot.x, y1: plot.y, y2: bottom }),
      svg("text", { class: "axis-title", x: plot.x + plot.width / 2, y: BOX.height - 6, "text-anchor": "middle" }, "Step"),
      svg("text", { class: "axis-title", x: 14, y: plot.y + plot.height / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${plot.y + plot.height / 2})` }, "Loss (nats/token)"),
      svg("path", { class: "train-line", d: g.trainPath, "data-testid": "loss-path", "data-points": g.trainPoints.length }),
      // A lone point has no line to draw: mark it.
      g.trainPoints.length === 1 ? svg("circle", { class: "train-point", cx: g.trainPoints[0]!.x, cy: g.trainPoints[0]!.y, r: 3 }) : null,
      g.evalPoints.map((p) => svg("circle", { class: "eval-point", cx: p.x, cy: p.y, r: 4.5, "data-testid": "eval-point" },
        svg("title", {}, `Held-out loss ${formatMetric(p.loss)} at step ${p.step}`))));

    const first = g.trainPoints[0];
    const last = g.trainPoints.at(-1);
    const lastEval = g.evalPoints.at(-1);
    desc.textContent = first && last
      ? `Training loss from ${formatMetric(first.loss)} at step ${first.step} to ${formatMetric(last.loss)} at step ${last.step}` +
        (lastEval ? `; ${g.evalPoints.length} held-out evaluation(s), the last ${formatMetric(lastEval.loss)} at step ${lastEval.step}.` : ".")
      : "No training steps yet.";
    empty.hidden = g.trainPoints.length > 0;
    legend.querySelector(".key-eval")?.toggleAttribute("hidden", g.evalPoints.length === 0);
  }

  update([], null);
  return { element: h("div", { class: "chart" }, chart, legend, empty), update };
}
