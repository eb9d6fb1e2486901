import type { Job } from "../../../core/jobs/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatCount, formatDate, formatDuration, formatMetric, shortHex } from "../format.ts";
import { followJob } from "../jobs/follow-job.ts";
import { isTerminalStatus } from "../jobs/job-state.ts";
import { routeHref } from "../router.ts";
import { errorBox, isAbort, loading } from "./common.ts";
import { metricsTable, setJobProgress, statusBadge } from "./job-widgets.ts";
import { lossChart } from "./loss-chart.ts";

/** How often a visitor (no key, so no event stream) re-reads a running public job. */
const VISITOR_POLL_MS = 3000;

/**
 * One fine-tune job, live: status, progress (step, tokens/s, ETA), the loss
 * curve, the adapter's held-out metrics beside the base model's, the error
 * of a failed job, its settings, Cancel while it runs, and its adapter.
 */
export function jobPageView(ctx: AppContext, signal: AbortSignal, id: string): HTMLElement {
  const root = h("section", { class: "job-page", "aria-labelledby": "job-title" }, loading());
  document.title = `${id} · Jobs`;

  const chart = lossChart();
  const badgeSlot = h("span", { class: "status-slot" });
  const bar = h("progress", { max: 1, "aria-label": "Training progress", "data-testid": "job-progress" });
  const facts = h("dl", { class: "stats", "data-testid": "job-stats" });
  const live = h("span", { class: "live muted small", "aria-live": "polite" });
  const cancel = h("button", { type: "button", class: "button", "data-testid": "cancel-job", hidden: true }, "Cancel job");
  const clone = h("a", { class: "button", "data-testid": "clone-job", href: routeHref({ name: "new-job", datanet: "", version: undefined, from: id }), hidden: true }, "Clone");
  const retry = h("button", { type: "button", class: "button", "data-testid": "retry-job", hidden: true }, "Retry");
  const actionStatus = h("div", { "aria-live": "polite" });
  const errorSlot = h("div", {});
  const metricsSlot = h("div", {}, h("p", { class: "muted" }, "The adapter and the base model are scored on the held-out records once training ends."));
  const adapterSlot = h("div", { class: "adapter-link" });
  const settingsSlot = h("div", {});
  let job: Job | undefined;
  let built = false;

  function build(first: Job) {
    built = true;
    replace(root,
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: routeHref({ name: "jobs" }) }, "Jobs"), " / ", first.id),
      h("header", { class: "page-head job-head" },
        h("div", {},
          h("h1", { id: "job-title" }, "Fine-tune ", h("code", {}, first.id)),
          h("div", { class: "badges" }, badgeSlot, live)),
        h("div", { class: "row" }, adapterSlot, retry, clone, cancel)),
      actionStatus,
      errorSlot,
      h("section", { class: "card panel", "aria-labelledby": "progress-title" },
        h("h2", { id: "progress-title" }, "Progress"),
        bar, facts),
      h("section", { class: "card panel", "aria-labelledby": "curve-title" },
        h("h2", { id: "curve-title" }, "Loss curve"),
        chart.element),
      h("section", { class: "card panel", "aria-labelledby": "metrics-title" },
        h("h2", { id: "metrics-title" }, "Evaluation"),
        metricsSlot),
      h("section", { class: "card panel", "aria-labelledby": "settings-title" },
        h("h2", { id: "settings-title" }, "Settings"),
        settingsSlot));
    renderSettings(first);
  }

  function render(next: Job) {
    job = next;
    if (!built) build(next);
    const p = next.progress;
    replace(badgeSlot, statusBadge(next.status));
    root.dataset.status = next.status;
    setJobProgress(bar, next);
    replace(facts,
      stat("Step", p ? `${formatCount(p.step)} / ${formatCount(p.totalSteps)}` : "—", "step"),
      stat("Training loss", formatMetric(p?.loss), "loss"),
      stat("Tokens/s", p?.tokensPerSecond != null ? formatCount(Math.round(p.tokensPerSecond)) : "—", "tps"),
      stat("ETA", isTerminalStatus(next.status) ? "—" : formatDuration(p?.etaSeconds), "eta"),
      stat("Attempts", String(next.attempts), "attempts"),
      stat("Started", next.startedAt ? formatDate(next.startedAt) : "—", "started"),
      stat("Finished", next.finishedAt ? formatDate(next.finishedAt) : "—", "finished"));
    live.textContent = isTerminalStatus(next.status) ? "" : "live";
    // Cancel and retry act for the job's owner; anyone else (a visitor of a public job) only reads it.
    const isOwner = ctx.session()?.address.toLowerCase() === next.owner.toLowerCase();
    cancel.hidden = !isOwner || isTerminalStatus(next.status);
    // A finished job can be copied into the form; one that failed or was cancelled can be run again as it was.
    clone.hidden = !isTerminalStatus(next.status);
    retry.hidden = !isOwner || (next.status !== "FAILED" && next.status !== "CANCELLED");
    chart.update(next.lossCurve, p?.totalSteps);

    replace(errorSlot, next.error
      ? h("div", { class: "alert alert-error", role: "alert", "data-testid": "job-error" },
        h("strong", {}, next.status === "FAILED" ? "The job failed. " : "Last attempt failed. "), next.error,
        next.attempts > 1 ? h("span", { class: "muted" }, ` (after ${next.attempts} attempts)`) : null)
      : null);
    if (next.metrics) replace(metricsSlot, metricsTable(next.metrics));
    replace(adapterSlot, next.adapterId
      ? h("a", { class: "button primary", href: routeHref({ name: "adapter", id: next.adapterId }), "data-testid": "adapter-link" }, "Open adapter →")
      : null);
  }

  function stat(label: string, value: string, key: string): HTMLElement {
    return h("div", { class: "stat" }, h("dt", {}, label), h("dd", { "data-stat": key }, value));
  }

  function renderSettings(j: Job) {
    const dl = (entries: [string, string][]) => h("dl", { class: "facts" }, entries.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, h("code", {}, v))]));
    replace(settingsSlot,
      h("div", { class: "settings-grid" },
        h("div", {},
          h("h3", {}, "Data"),
          h("ul", { class: "plain" }, j.datanets.map((d) =>
            h("li", {}, h("a", { href: routeHref({ name: "datanet", id: d.id }) }, h("code", {}, d.id)), ` v${d.version} · root `, h("code", { title: d.root }, shortHex(d.root, 8, 6))))),
          h("h3", {}, "Base model"), h("p", {}, h("code", {}, j.baseModel)),
          h("p", { class: "muted small" }, `Created ${formatDate(j.createdAt)}`)),
        h("div", {}, h("h3", {}, "LoRA"), dl(Object.entries(j.lora).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]))),
        h("div", {}, h("h3", {}, "Training"), dl(Object.entries(j.training).map(([k, v]) => [k, String(v)])))));
  }

  cancel.addEventListener("click", async () => {
    if (!job || !confirm(`Cancel ${job.id}? The running attempt stops and no adapter is made.`)) return;
    cancel.disabled = true;
    replace(actionStatus);
    try {
      render(await ctx.api.cancelJob(job.id));
    } catch (err) {
      replace(actionStatus, errorBox(err));
    } finally {
      cancel.disabled = false;
    }
  });

  retry.addEventListener("click", async () => {
    if (!job) return;
    retry.disabled = true;
    replace(actionStatus);
    try {
      const again = await ctx.api.createJob({ datanets: job.datanets.map((d) => ({ id: d.id, version: d.version })), baseModel: job.baseModel, lora: job.lora, training: job.training });
      ctx.navigate({ name: "job", id: again.id });
    } catch (err) {
      replace(actionStatus, errorBox(err));
    } finally {
      retry.disabled = false;
    }
  });

  void (async () => {
    try {
      // The first read renders at once; the stream then carries the changes.
      render(await ctx.api.getJob(id, signal));
      if (job && isTerminalStatus(job.status)) return;
      if (ctx.session()) return void (await followJob(ctx.api, id, render, signal));
      // A visitor has no key for the event stream: re-read the public job instead.
      while (job && !isTerminalStatus(job.status)) {
        await new Promise((r) => setTimeout(r, VISITOR_POLL_MS));
        if (signal.aborted) return;
        render(await ctx.api.getJob(id, signal));
      }
    } catch (err) {
      if (isAbort(err, signal)) return;
      if (built) replace(actionStatus, errorBox(err));
      else replace(root, errorBox(err), h("p", {}, h("a", { href: routeHref({ name: "jobs" }) }, "← Back to jobs")));
    }
  })();

  return root;
}
