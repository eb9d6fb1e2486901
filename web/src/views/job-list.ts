import type { Job, JobStatus } from "../../../core/jobs/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatDate, shortHex } from "../format.ts";
import { isTerminalStatus } from "../jobs/job-state.ts";
import { routeHref } from "../router.ts";
import { isAbort } from "./common.ts";
import { pagedList } from "./paged-list.ts";
import { jobProgressBar, statusBadge } from "./job-widgets.ts";

const STATUSES: readonly JobStatus[] = ["QUEUED", "STARTING", "RUNNING", "EVALUATING", "SUCCEEDED", "FAILED", "CANCELLED"];
/** How often the jobs still in flight are re-read. */
const REFRESH_MS = 2000;

/** The signed-in account's fine-tune jobs, newest first; rows of jobs in flight refresh on their own. */
export function jobListView(ctx: AppContext, signal: AbortSignal): HTMLElement {
  const filter = h("select", { id: "job-status", name: "status" },
    h("option", { value: "" }, "All"),
    STATUSES.map((s) => h("option", { value: s }, s.toLowerCase())));
  const body = h("tbody");
  const table = h("table", { class: "table jobs-table", "data-testid": "jobs", hidden: true },
    h("caption", { class: "visually-hidden" }, "Fine-tune jobs"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Job"),
      h("th", { scope: "col" }, "Status"),
      h("th", { scope: "col", class: "progress-col" }, "Progress"),
      h("th", { scope: "col" }, "Data"),
      h("th", { scope: "col" }, "Base model"),
      h("th", { scope: "col" }, "Created"),
      h("th", { scope: "col" }, "Adapter"))),
    body);
  const status = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", class: "button", hidden: true }, "Load more");
  const rows = new Map<string, HTMLTableRowElement>();
  const load = pagedList<Job>({
    signal,
    status,
    more,
    fetchPage: (cursor, sig) => ctx.api.listJobs({ status: (filter.value || undefined) as JobStatus | undefined, cursor }, sig),
    render: (items, reset) => {
      if (reset) {
        replace(body);
        rows.clear();
      }
      for (const job of items) {
        const tr = row(job);
        rows.set(job.id, tr);
        body.append(tr);
      }
      table.hidden = rows.size === 0;
    },
    empty: () => (rows.size === 0 ? emptyState() : undefined),
  });

  function row(job: Job): HTMLTableRowElement {
    const p = job.progress;
    return h("tr", { "data-id": job.id, "data-status": job.status },
      h("td", {}, h("a", { href: routeHref({ name: "job", id: job.id }) }, h("code", {}, job.id))),
      h("td", {}, statusBadge(job.status)),
      h("td", { class: "progress-col" },
        isTerminalStatus(job.status) && job.status !== "SUCCEEDED"
          ? h("span", { class: "muted small" }, p ? `stopped at step ${p.step} of ${p.totalSteps}` : "—")
          : h("div", {}, jobProgressBar(job), h("span", { class: "muted small" }, p ? `step ${p.step} of ${p.totalSteps}` : job.status === "SUCCEEDED" ? "done" : "waiting to start"))),
      h("td", {}, job.datanets.flatMap((d, i) => [i > 0 ? ", " : "", h("a", { href: routeHref({ name: "datanet", id: d.id }), title: d.id }, h("code", {}, shortHex(d.id, 9, 4))), ` v${d.version}`])),
      h("td", {}, h("code", {}, job.baseModel)),
      h("td", { class: "nowrap" }, formatDate(job.createdAt)),
      h("td", {}, job.adapterId ? h("a", { href: routeHref({ name: "adapter", id: job.adapterId }), title: job.adapterId }, h("code", {}, shortHex(job.adapterId, 9, 4))) : h("span", { class: "muted" }, "—")));
  }

  function emptyState(): HTMLElement {
    if (filter.value) return h("p", { class: "muted empty" }, `No ${filter.value.toLowerCase()} jobs.`);
    return h("div", { class: "empty" },
      h("p", {}, "No fine-tune jobs yet. Start one from a Datanet with a published version."),
      h("a", { class: "button primary", href: routeHref({ name: "new-job", datanet: "", version: undefined, from: "" }) }, "New fine-tune"));
  }

  // Re-read the jobs still in flight (a handful at most) rather than the whole list.
  async function refreshInFlight() {
    while (!signal.aborted) {
      await new Promise((r) => setTimeout(r, REFRESH_MS));
      const live = [...rows].filter(([, tr]) => !isTerminalStatus(tr.dataset.status as JobStatus));
      for (const [id, tr] of live) {
        try {
          const job = await ctx.api.getJob(id, signal);
          const next = row(job);
          tr.replaceWith(next);
          rows.set(id, next);
        } catch (err) {
          if (isAbort(err, signal)) return;
        }
      }
    }
  }

  filter.addEventListener("change", () => void load(true));
  void load(true);
  void refreshInFlight();

  return h("section", { "aria-labelledby": "jobs-title" },
    h("div", { class: "page-head" },
      h("h1", { id: "jobs-title" }, "Fine-tune jobs"),
      h("a", { class: "button primary", href: routeHref({ name: "new-job", datanet: "", version: undefined, from: "" }) }, "New fine-tune")),
    h("div", { class: "toolbar" }, h("div", { class: "field inline" }, h("label", { for: "job-status" }, "Status"), filter)),
    h("div", { class: "card table-card" }, h("div", { class: "table-wrap" }, table), status),
    h("div", { class: "more" }, more));
}
