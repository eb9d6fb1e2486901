import type { AdapterView } from "../../../core/adapters/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatBps, formatCount, formatDate, shortHex } from "../format.ts";
import { routeHref } from "../router.ts";
import { chainBadge } from "./chain-status.ts";
import { badge, isAbort } from "./common.ts";

/** Usage records read for the calls step, at most (the owner's newest). */
const USAGE_PAGES = 4;

/**
 * Where an adapter came from and where it goes: the Datanet versions it was
 * trained on → its job → the adapter → its calls. Every link leads to a page
 * the visitor may open: a public adapter has only public sources and a public
 * job; a private one is seen by its owner alone, who may open all of them.
 * Calls and fees are the owner's to see.
 */
export function adapterLineage(ctx: AppContext, a: AdapterView, signal: AbortSignal): HTMLElement {
  const isOwner = ctx.session()?.address.toLowerCase() === a.owner.toLowerCase();
  const sources = h("ul", { class: "plain" }, a.datanets.map((d) => {
    const name = h("span", {}, h("code", {}, d.id));
    ctx.api.getDatanet(d.id, signal).then((dn) => replace(name, dn.name), () => undefined);
    return h("li", { "data-lineage-datanet": d.id },
      h("a", { href: routeHref({ name: "datanet", id: d.id }) }, name, ` v${d.version}`),
      h("span", { class: "muted small" }, ` · ${formatCount(d.tokens)} tokens · ${formatBps(d.weightBps)} · root `, h("code", { title: d.root }, shortHex(d.root, 8, 6))));
  }));

  const jobFacts = h("p", { class: "muted small" }, "…");
  ctx.api.getJob(a.jobId, signal).then(
    (job) => replace(jobFacts, badge(job.status, job.status === "SUCCEEDED" ? "ok" : ""),
      ` ${job.baseModel} · r=${job.lora.rank}`, job.progress ? ` · ${formatCount(job.progress.totalSteps)} steps` : "", job.finishedAt ? ` · ${formatDate(job.finishedAt)}` : ""),
    (err: unknown) => { if (!isAbort(err, signal)) replace(jobFacts, "Could not read the job."); },
  );

  const calls = h("div", { "data-testid": "lineage-calls" });
  if (!isOwner) {
    replace(calls, h("p", { class: "muted small" }, "Calls and fees are shown to the adapter's owner; contributors see theirs under Earnings."));
  } else {
    replace(calls, h("p", { class: "muted small" }, "Counting calls…"));
    void countCalls(ctx, a.id, signal).then(
      (c) => replace(calls,
        h("p", {}, h("strong", { "data-calls": String(c.calls) }, `${formatCount(c.calls)}${c.more ? "+" : ""} call${c.calls === 1 ? "" : "s"}`), ` · ${c.charged.toString()} base units charged`),
        h("p", { class: "muted small" }, h("a", { href: routeHref({ name: "earnings" }) }, "Usage and revenue over time →"))),
      (err: unknown) => { if (!isAbort(err, signal)) replace(calls, h("p", { class: "muted small" }, "Usage is not available here.")); },
    );
  }

  return h("ol", { class: "lineage", "data-testid": "lineage", "aria-label": "Lineage, from data to calls" },
    h("li", {}, h("h3", {}, "Datanet versions"), sources),
    h("li", {}, h("h3", {}, "Training job"), h("p", {}, h("a", { href: routeHref({ name: "job", id: a.jobId }), "data-testid": "lineage-job" }, h("code", {}, a.jobId))), jobFacts),
    h("li", {}, h("h3", {}, "Adapter"), h("p", {}, h("code", {}, a.id)), h("p", { class: "muted small" }, chainBadge(a.chain), " fingerprint ", h("code", { title: a.fingerprint }, shortHex(a.fingerprint, 8, 6)))),
    h("li", {}, h("h3", {}, "Calls"), calls));
}

/** The owner's calls of the adapter (the newest USAGE_PAGES pages) and what they were charged. */
async function countCalls(ctx: AppContext, adapterId: string, signal: AbortSignal): Promise<{ calls: number; charged: bigint; more: boolean }> {
  let calls = 0;
  let charged = 0n;
  let cursor: string | undefined;
  for (let page = 0; page < USAGE_PAGES; page++) {
    const res = await ctx.api.listUsage({ adapter: adapterId, ...(cursor ? { cursor } : {}) }, signal);
    calls += res.items.length;
    for (const r of res.items) charged += BigInt(r.charged);
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  return { calls, charged, more: cursor !== undefined };
}
