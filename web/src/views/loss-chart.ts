import { lineChart } from "../charts/line-chart.ts";
import { h } from "../dom.ts";
import { formatCount, formatMetric } from "../format.ts";

/** A point of a job's loss curve (core/jobs/model.ts LossPoint). */
export interface LossPointLike {
  step: number;
  loss: number;
  evalLoss?: number | undefined;
}

export interface LossChart {
  element: HTMLElement;
  /** Redraws with the job's current curve; `totalSteps` fixes the x axis while training runs. */
  update(points: readonly LossPointLike[], totalSteps: number | null | undefined): void;
}

/** The loss curve: training loss per step as a line, held-out loss as points (uPlot, via charts/line-chart.ts). */
export function lossChart(): LossChart {
  const chart = lineChart({
    title: "Loss curve",
    xLabel: "Step",
    yLabel: "Loss (nats/token)",
    series: [
      { label: "Training loss", colorVar: "--accent", format: (v) => formatMetric(v) },
      { label: "Held-out loss", colorVar: "--chart-2", pointsOnly: true, format: (v) => formatMetric(v) },
    ],
    formatX: (x) => formatCount(x),
  });
  chart.element.dataset.testid = "loss-chart";
  const empty = h("p", { class: "muted chart-empty" }, "The curve appears with the first training step.");

  function update(points: readonly LossPointLike[], totalSteps: number | null | undefined) {
    const finite = points.filter((p) => Number.isFinite(p.loss));
    const evals = finite.filter((p) => p.evalLoss !== undefined && Number.isFinite(p.evalLoss));
    const first = finite[0];
    const last = finite.at(-1);
    const lastEval = evals.at(-1);
    const summary = first && last
      ? `Training loss from ${formatMetric(first.loss)} at step ${first.step} to ${formatMetric(last.loss)} at step ${last.step}` +
        (lastEval ? `; ${evals.length} held-out evaluation${evals.length === 1 ? "" : "s"}, the last ${formatMetric(lastEval.evalLoss)} at step ${lastEval.step}.` : ".")
      : "No training steps yet.";
    chart.update(finite.map((p) => p.step), [finite.map((p) => p.loss), finite.map((p) => p.evalLoss ?? null)], totalSteps ?? undefined, summary);
    chart.element.dataset.evalPoints = String(evals.length);
    empty.hidden = finite.length > 0;
  }

  update([], null);
  return { element: h("div", { class: "loss-chart-wrap" }, chart.element, empty), update };
}
