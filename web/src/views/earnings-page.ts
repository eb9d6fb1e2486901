import type { AdapterView } from "../../../core/adapters/model.ts";
import type { Rewards } from "../../../core/payments/rewards.ts";
import type { UsageRecord } from "../../../core/payments/usage.ts";
import type { AppContext } from "../app-context.ts";
import { lineChart } from "../charts/line-chart.ts";
import { h, replace } from "../dom.ts";
import { formatBps, formatCount, shortHex } from "../format.ts";
import { routeHref } from "../router.ts";
import { errorBox, isAbort, loading } from "./common.ts";

/** Pages of a list read at most for one section (the newest first); the section says when it stopped short. */
const MAX_PAGES = 5;

type EpochReward = Rewards["epochs"][number];

/**
 * A contributor's and an adapter owner's earnings: rewards per settled epoch
 * (a chart, and a table with a Claim button for each claimable epoch that
 * sends RewardsDistributor.claim with the served proof through the wallet),
 * what is still pending, the account's contributions across Datanets, the
 * adapters trained on them, and the usage and revenue of its own adapters.
 */
export function earningsPageView(ctx: AppContext, signal: AbortSignal): HTMLElement {
  const me = ctx.session()!.address;
  const section = (title: string, idAttr: string, ...content: (Node | string | null)[]) =>
    h("section", { class: "card panel", "aria-labelledby": idAttr }, h("h2", { id: idAttr }, title), ...content);

  const rewardsSlot = h("div", { "data-testid": "rewards" }, loading("Reading your rewards…"));
  const claimStatus = h("div", { role: "status", "aria-live": "polite", "data-testid": "claim-status" });
  const contributionsSlot = h("div", { "data-testid": "my-contributions" }, loading("Looking through Datanets…"));
  const trainedSlot = h("div", { "data-testid": "trained-on-mine" }, loading("Looking through adapters…"));
  const ownedSlot = h("div", { "data-testid": "my-adapters" }, loading("Reading your adapters' usage…"));

  // The charts' x is the period's offset from the first one shown (uPlot's axis starts at 0); labels name the period itself.
  let rewardsFirst = 0;
  let usageFirst = 0;
  const rewardsChart = lineChart({
    title: "Rewards per settled epoch",
    xLabel: "Settlement period",
    yLabel: "Base units",
    series: [{ label: "Earned", colorVar: "--accent", format: (v) => formatCount(v) }],
    formatX: (x) => `#${rewardsFirst + x}`,
    height: 220,
  });
  rewardsChart.element.dataset.testid = "rewards-chart";
  const usageChart = lineChart({
    title: "Calls and fees of your adapters per settlement period",
    xLabel: "Settlement period",
    yLabel: "Calls / base units",
    series: [
      { label: "Calls", colorVar: "--accent", format: (v) => formatCount(v) },
      { label: "Fees charged", colorVar: "--chart-2", format: (v) => formatCount(v) },
    ],
    formatX: (x) => `#${usageFirst + x}`,
    height: 220,
  });
  usageChart.element.dataset.testid = "usage-chart";

  async function loadRewards() {
    try {
      renderRewards(await ctx.api.getRewards(me, signal));
    } catch (err) {
      if (!isAbort(err, signal)) replace(rewardsSlot, errorBox(err));
    }
  }

  function renderRewards(r: Rewards) {
    const epochs = [...r.epochs].sort((a, b) => a.period - b.period);
    const first = (rewardsFirst = epochs[0]?.period ?? 0);
    rewardsChart.update(epochs.map((e) => e.period - first), [epochs.map((e) => Number(e.amount))], undefined,
      epochs.length === 0 ? "No settled epoch has paid you yet." : `${epochs.length} settled epoch${epochs.length === 1 ? "" : "s"} paid you ${r.totals.earned} base units in all; ${r.totals.claimable} of them can be claimed.`);
    replace(rewardsSlot,
      h("dl", { class: "facts totals" },
        h("dt", {}, "Earned"), h("dd", { "data-total": "earned" }, r.totals.earned),
        h("dt", {}, "Claimed"), h("dd", { "data-total": "claimed" }, r.totals.claimed),
        h("dt", {}, "Claimable"), h("dd", { "data-total": "claimable" }, r.totals.claimable),
        h("dt", {}, "Pending"), h("dd", { "data-total": "pending" }, r.totals.pending, h("span", { class: "muted small" }, " (calls not settled yet)"))),
      h("p", { class: "hint" }, "Amounts in the payment token's base units. Each settled epoch publishes a Merkle root of everyone's rewards on chain; a claim proves your share against it."),
      rewardsChart.element,
      epochs.length === 0 ? h("p", { class: "muted empty" }, "Nothing settled for you yet: rewards appear here after the first epoch that includes a paid call of an adapter trained on your data (or one you own).") :
        h("div", { class: "table-wrap" }, h("table", { class: "table", "data-testid": "epochs" },
          h("caption", { class: "visually-hidden" }, "Rewards per epoch"),
          h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num" }, "Epoch"), h("th", { scope: "col", class: "num" }, "Period"), h("th", { scope: "col", class: "num" }, "Amount"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Claim")))),
          h("tbody", {}, epochs.map((e) => h("tr", { "data-epoch": String(e.epoch), "data-claimed": String(e.claimed) },
            h("td", { class: "num" }, String(e.epoch)), h("td", { class: "num" }, String(e.period)), h("td", { class: "num" }, e.amount),
            h("td", {}, e.claimed === true ? "claimed" : e.claimed === false ? "claimable" : "unknown (chain not reachable)"),
            h("td", {}, e.claimed === false && BigInt(e.amount) > 0n ? claimButton(e) : null)))))),
      claimStatus);
  }

  function claimButton(e: EpochReward): HTMLButtonElement {
    const button = h("button", { type: "button", class: "button primary small", "data-testid": "claim", "aria-label": `Claim ${e.amount} from epoch ${e.epoch}` }, "Claim");
    button.addEventListener("click", async () => {
      button.disabled = true;
      replace(claimStatus, h("p", { class: "muted" }, "Waiting for the wallet…"));
      try {
        const session = ctx.session();
        if (!session) throw new Error("Sign in again to claim.");
        // ethers and the wallet code load on the first claim, not with the page.
        const [{ chainSigner }, { claimEpoch }, chain] = await Promise.all([import("../payments/chain-wallet.ts"), import("../payments/claim-rewards.ts"), ctx.api.getChain(signal)]);
        const signer = await chainSigner(session, chain);
        const receipt = await claimEpoch(signer, chain.contracts.rewardsDistributor, me, e, (hash) =>
          replace(claimStatus, h("p", {}, "Sent ", h("code", { title: hash }, shortHex(hash, 10, 8)), ", waiting for it to be mined…")));
        replace(claimStatus, h("div", { class: `alert ${receipt.status === "confirmed" ? "alert-ok" : "alert-error"}`, "data-testid": "claim-tx", "data-status": receipt.status, "data-hash": receipt.hash },
          receipt.status === "confirmed" ? `Claimed ${e.amount} from epoch ${e.epoch} in block ${receipt.blockNumber}: ` : "The claim reverted: ",
          h("code", { title: receipt.hash }, receipt.hash)));
        await loadRewards();
      } catch (err) {
        button.disabled = false;
        if (!isAbort(err, signal)) replace(claimStatus, errorBox(friendlyChainError(err)));
      }
    });
    return button;
  }

  async function loadContributions() {
    // Datanets this account can see, and in each the uploads it made (from the Datanet's statistics).
    const rows: { id: string; name: string; uploads: number; accepted: number; rejected: number }[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await ctx.api.listDatanets(cursor ? { cursor } : {}, signal);
      const stats = await Promise.all(page.items.map((dn) => ctx.api.getDatanetStats(dn.id, signal).then((st) => ({ dn, st }), () => undefined)));
      for (const found of stats) {
        if (!found) continue;
        const mine = found.st.uploads.filter((u) => u.contributor.toLowerCase() === me.toLowerCase());
        if (mine.length > 0) rows.push({ id: found.dn.id, name: found.dn.name, uploads: mine.length, accepted: mine.reduce((n, u) => n + u.accepted, 0), rejected: mine.reduce((n, u) => n + u.rejected, 0) });
      }
      cursor = page.nextCursor;
    } while (cursor && ++pages < MAX_PAGES);
    replace(contributionsSlot, rows.length === 0
      ? h("p", { class: "muted empty" }, "You have not contributed to any Datanet yet.")
      : h("div", { class: "table-wrap" }, h("table", { class: "table" },
        h("caption", { class: "visually-hidden" }, "Your contributions per Datanet"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Datanet"), h("th", { scope: "col", class: "num" }, "Uploads"), h("th", { scope: "col", class: "num" }, "Accepted records"), h("th", { scope: "col", class: "num" }, "Rejected"))),
        h("tbody", {}, rows.map((r) => h("tr", { "data-datanet": r.id },
          h("td", {}, h("a", { href: routeHref({ name: "datanet", id: r.id }) }, r.name)),
          h("td", { class: "num" }, formatCount(r.uploads)), h("td", { class: "num" }, formatCount(r.accepted)), h("td", { class: "num" }, formatCount(r.rejected))))))),
      cursor ? h("p", { class: "muted small" }, `The first ${MAX_PAGES} pages of Datanets were searched.`) : null);
  }

  async function loadAdapters() {
    const all: AdapterView[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await ctx.api.listAdapters(cursor ? { cursor } : {}, signal);
      all.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor && ++pages < MAX_PAGES);
    const mine = (a: AdapterView) => a.contributors.find((c) => c.address.toLowerCase() === me.toLowerCase());
    const trained = all.filter((a) => mine(a));
    replace(trainedSlot, trained.length === 0
      ? h("p", { class: "muted empty" }, "No adapter you can see was trained on your records yet.")
      : h("ul", { class: "plain adapter-links" }, trained.map((a) => h("li", { "data-adapter": a.id },
        h("a", { href: routeHref({ name: "adapter", id: a.id }) }, h("code", {}, a.id)),
        h("span", { class: "muted small" }, ` · your records: ${formatBps(mine(a)!.weightBps)} of its training tokens · ${a.baseModel}`)))));

    const owned = all.filter((a) => a.owner.toLowerCase() === me.toLowerCase());
    if (owned.length === 0) {
      replace(ownedSlot, h("p", { class: "muted empty" }, "You own no adapters. ", h("a", { href: routeHref({ name: "new-job", datanet: "", version: undefined, from: "" }) }, "Start a fine-tune")));
      return;
    }
    const usage = await Promise.all(owned.map(async (a) => ({ a, records: await usageOf(a.id) })));
    const byPeriod = new Map<number, { calls: number; fees: number }>();
    for (const { records } of usage) {
      for (const r of records) {
        const p = byPeriod.get(r.period) ?? { calls: 0, fees: 0 };
        p.calls++;
        p.fees += Number(r.charged);
        byPeriod.set(r.period, p);
      }
    }
    const periods = [...byPeriod.keys()].sort((a, b) => a - b);
    const first = (usageFirst = periods[0] ?? 0);
    const totalCalls = usage.reduce((n, u) => n + u.records.length, 0);
    usageChart.update(periods.map((p) => p - first), [periods.map((p) => byPeriod.get(p)!.calls), periods.map((p) => byPeriod.get(p)!.fees)], undefined,
      totalCalls === 0 ? "No calls yet." : `${formatCount(totalCalls)} calls over ${periods.length} settlement period${periods.length === 1 ? "" : "s"}.`);
    replace(ownedSlot,
      h("div", { class: "table-wrap" }, h("table", { class: "table" },
        h("caption", { class: "visually-hidden" }, "Usage and revenue of your adapters"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Adapter"), h("th", { scope: "col", class: "num" }, "Calls"), h("th", { scope: "col", class: "num" }, "Output tokens"), h("th", { scope: "col", class: "num" }, "Fees charged"))),
        h("tbody", {}, usage.map(({ a, records }) => h("tr", { "data-adapter": a.id },
          h("td", {}, h("a", { href: routeHref({ name: "adapter", id: a.id }) }, h("code", {}, a.id))),
          h("td", { class: "num", "data-calls": String(records.length) }, formatCount(records.length)),
          h("td", { class: "num" }, formatCount(records.reduce((n, r) => n + r.completionTokens, 0))),
          h("td", { class: "num" }, records.reduce((n, r) => n + BigInt(r.charged), 0n).toString())))))),
      h("p", { class: "hint" }, "Fees are what callers were charged; your share as the owner arrives with the contributors' in the epoch rewards above."),
      usageChart.element);
  }

  async function usageOf(adapterId: string): Promise<UsageRecord[]> {
    const out: UsageRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await ctx.api.listUsage({ adapter: adapterId, ...(cursor ? { cursor } : {}) }, signal);
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor && ++pages < MAX_PAGES);
    return out;
  }

  const fail = (slot: HTMLElement) => (err: unknown) => { if (!isAbort(err, signal)) replace(slot, errorBox(err)); };
  void loadRewards();
  void loadContributions().catch(fail(contributionsSlot));
  void loadAdapters().catch((err: unknown) => { fail(trainedSlot)(err); fail(ownedSlot)(err); });

  return h("section", { class: "earnings-page", "aria-labelledby": "earnings-title" },
    h("div", { class: "page-head" }, h("h1", { id: "earnings-title" }, "Earnings")),
    h("p", { class: "lead" }, "What your data and your adapters earned: every paid call's fee is split between the adapter's owner and the contributors whose records shaped it, settled per epoch on chain."),
    section("Rewards", "rewards-title", rewardsSlot),
    section("Your contributions", "contrib-title", contributionsSlot),
    section("Adapters trained on your data", "trained-title", trainedSlot),
    section("Your adapters: usage and revenue", "owned-title", ownedSlot));
}

/** A wallet's or the chain's refusal in words (ethers puts the reason in `shortMessage`). */
function friendlyChainError(err: unknown): unknown {
  if (err && typeof err === "object" && "shortMessage" in err && typeof (err as { shortMessage: unknown }).shortMessage === "string") {
    return new Error(`The claim did not go through: ${(err as { shortMessage: string }).shortMessage}`);
  }
  return err;
}
