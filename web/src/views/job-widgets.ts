import type { Job, JobStatus } from "../../../core/jobs/model.ts";
import { h } from "../dom.ts";
import { formatCount, formatMetric } from "../format.ts";
import { progressFraction, statusKind } from "../jobs/job-state.ts";
import { badge } from "./common.ts";

/** Small pieces the job list, the job page and the adapter page share. */

/** A job's status as a badge; `data-status` lets tests and styles find it. */
export function statusBadge(status: JobStatus): HTMLElement {
  const el = badge(status.toLowerCase(), statusKind(status));
  el.dataset.status = status;
  el.dataset.testid = "job-status";
  return el;
}

/** A progress bar for a job: determinate once the total is known, indeterminate before. */
export function jobProgressBar(job: Pick<Job, "id" | "status" | "progress">): HTMLProgressElement {
  const bar = h("progress", { max: 1, "aria-label": `Progress of ${job.id}` });
  setJobProgress(bar, job);
  return bar;
}

/** Updates a job progress bar in place. */
export function setJobProgress(bar: HTMLProgressElement, job: Pick<Job, "status" | "progress">): void {
  const fraction = progressFraction(job);
  if (fraction === undefined) bar.removeAttribute("value");
  else bar.value = fraction;
}

/**
 * The adapter's held-out loss and perplexity beside the base model's on the
 * same held-out records, with the change; lower is better for both.
 */
export function metricsTable(metrics: NonNullable<Job["metrics"]>): HTMLElement {
  const row = (label: string, base: number | null, adapter: number | null, digits: number) => {
    const change = base !== null && adapter !== null && base !== 0 ? (adapter - base) / base : null;
    return h("tr", {},
      h("th", { scope: "row" }, label),
      h("td", { class: "num" }, formatMetric(base, digits)),
      h("td", { class: "num strong" }, formatMetric(adapter, digits)),
      h("td", { class: `num ${change === null ? "" : change < 0 ? "better" : "worse"}` },
        change === null ? "—" : `${change < 0 ? "▼" : "▲"} ${Math.abs(change * 100).toFixed(1)}%`));
  };
  return h("div", { class: "metrics", "data-testid": "metrics" },
    h("div", { class: "table-wrap" },
      h("table", { class: "table metrics-table" },
        h("caption", { class: "visually-hidden" }, "Held-out metrics of the base model and the adapter"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Held-out"),
          h("th", { scope: "col", class: "num" }, "Base model"),
          h("th", { scope: "col", class: "num" }, "Adapter"),
          h("th", { scope: "col", class: "num" }, "Change"))),
        h("tbody", {},
          row("Loss", metrics.baseEvalLoss, metrics.evalLoss, 3),
          row("Perplexity", metrics.baseEvalPerplexity, metrics.evalPerplexity, 2)))),
    h("p", { class: "hint" },
      `Final training loss ${formatMetric(metrics.trainLoss)} over ${formatCount(metrics.trainTokens)} training tokens. `,
      "Both models are scored on the same held-out records, which training never saw; lower is better."));
}
