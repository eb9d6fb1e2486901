import type { ContributionStatus } from "../../../core/datanets/model.ts";
import type { ListedContribution } from "../api-client.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatCount, shortHex } from "../format.ts";
import { badge, hexValue } from "./common.ts";
import { pagedList } from "./paged-list.ts";

/** Characters of a record shown before it is opened. */
const PREVIEW_CHARS = 80;

/**
 * A record as a person reads it: a text record's text, an instruction's
 * fields in order ("question → answer"), a chat's turns; `full` is the
 * record's JSON laid out for the opened view. A cut record is not valid
 * JSON and is shown as sent.
 */
function readable(json: string): { short: string; full: string } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { short: json, full: json };
  }
  const full = JSON.stringify(value, null, 2);
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const fields = Object.values(value as Record<string, unknown>);
    const messages = (value as { messages?: unknown }).messages;
    if (Array.isArray(messages)) {
      return { short: messages.map((m) => `${String((m as { role?: unknown }).role)}: ${String((m as { content?: unknown }).content)}`).join(" / "), full };
    }
    if (fields.every((f) => typeof f === "string")) return { short: (fields as string[]).filter(Boolean).join(" → "), full: fields.length === 1 ? (fields[0] as string) : full };
  }
  return { short: json, full };
}

export interface ContributionsTable {
  element: HTMLElement;
  /** Reloads from the first page (after an upload finishes). */
  refresh(): void;
  /** Shows or hides the per-row "Verify" buttons (only useful once a version exists). */
  setCanVerify(can: boolean): void;
  /** File names of the uploads, by upload id, for the "File" column. */
  setUploadNames(names: ReadonlyMap<string, string>): void;
}

/**
 * Contributions of a Datanet: status filter, "load more" paging, each
 * record's content (its start, expandable to what the API sends) and the
 * file it came from, and for a rejected record the reason and its line.
 */
export function contributionsTable(
  ctx: AppContext,
  datanetId: string,
  signal: AbortSignal,
  onVerify: (c: ListedContribution) => void,
): ContributionsTable {
  const filter = h("select", { id: "contrib-status", name: "status" },
    h("option", { value: "" }, "All"),
    h("option", { value: "accepted" }, "Accepted"),
    h("option", { value: "rejected" }, "Rejected"));
  const body = h("tbody");
  const table = h("table", { class: "table", "data-testid": "contributions" },
    h("caption", { class: "visually-hidden" }, "Contributions"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "File"),
      h("th", { scope: "col", class: "num" }, "Line"),
      h("th", { scope: "col" }, "Content"),
      h("th", { scope: "col" }, "Status"),
      h("th", { scope: "col" }, "Contributor"),
      h("th", { scope: "col" }, "Content hash"),
      h("th", { scope: "col", class: "num" }, "Tokens"),
      h("th", { scope: "col" }, "License"),
      h("th", { scope: "col" }, "Reason"),
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
    body);
  const status = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", class: "button", hidden: true }, "Load more");
  let canVerify = false;
  let names: ReadonlyMap<string, string> = new Map();
  const load = pagedList<ListedContribution>({
    signal,
    status,
    more,
    fetchPage: (cursor, sig) => ctx.api.listContributions(datanetId, { status: (filter.value || undefined) as ContributionStatus | undefined, cursor }, sig),
    render: (items, reset) => {
      if (reset) replace(body);
      body.append(...items.map(row));
    },
    empty: (items, reset) =>
      reset && items.length === 0
        ? h("p", { class: "muted empty" }, filter.value ? `No ${filter.value} contributions.` : "No contributions yet: drop a file above.")
        : undefined,
  });

  function row(c: ListedContribution): HTMLElement {
    const file = c.filename ?? names.get(c.uploadId);
    // Named by its row, so a screen reader's list of buttons tells them apart.
    const verify = h("button", { type: "button", class: "button small verify", hidden: !canVerify || c.status !== "accepted", "aria-label": `Verify proof of line ${c.line}${file ? ` of ${file}` : ""}` }, "Verify proof");
    verify.addEventListener("click", () => onVerify(c));
    return h("tr", { "data-status": c.status, "data-id": c.id, "data-upload": c.uploadId },
      h("td", { class: "filename" }, file ?? h("code", { title: c.uploadId }, shortHex(c.uploadId, 8, 4))),
      h("td", { class: "num" }, String(c.line)),
      h("td", { class: "content" }, contentCell(c, file)),
      h("td", {}, badge(c.status, c.status === "accepted" ? "ok" : "bad")),
      h("td", {}, h("code", { title: c.contributor }, shortHex(c.contributor))),
      h("td", {}, c.contentHash ? hexValue(c.contentHash, shortHex(c.contentHash, 10, 6)) : h("span", { class: "muted" }, "—")),
      h("td", { class: "num" }, c.status === "accepted" ? formatCount(c.tokens) : "—"),
      h("td", {}, c.license),
      h("td", { class: "reason" }, c.reason ?? ""),
      h("td", { class: "actions" }, verify));
  }

  filter.addEventListener("change", () => void load(true));

  /**
   * The record's first characters; a longer one opens (a native <details>, so
   * keyboard and screen readers work as for any disclosure) to all the API sent.
   */
  function contentCell(c: ListedContribution, file: string | undefined): HTMLElement | string {
    if (c.content === null) return h("span", { class: "muted" }, c.status === "rejected" ? "not kept (rejected)" : "—");
    const text = readable(c.content);
    if (text.short.length <= PREVIEW_CHARS && !c.contentTruncated) return h("span", { class: "record-text", "data-testid": "record-content", title: text.full }, text.short);
    const start = `${text.short.slice(0, PREVIEW_CHARS)}…`;
    return h("details", { class: "record", "data-testid": "record-content" },
      h("summary", { "aria-label": `Content of line ${c.line}${file ? ` of ${file}` : ""}: ${start}` }, start),
      // Focusable: a long record scrolls inside its box, and keyboard users must reach the rest of it.
      h("pre", { class: "record-full", tabindex: 0 }, text.full),
      c.contentTruncated ? h("p", { class: "muted small" }, "Longer than the preview; the full record is in the Datanet's version files.") : null);
  }
  void load(true);

  const element = h("div", { class: "contributions" },
    h("div", { class: "toolbar" },
      h("div", { class: "field inline" }, h("label", { for: "contrib-status" }, "Status"), filter)),
    h("div", { class: "table-wrap" }, table),
    status,
    h("div", { class: "more" }, more));

  return {
    element,
    refresh: () => void load(true),
    setCanVerify(can) {
      canVerify = can;
      body.querySelectorAll<HTMLButtonElement>("tr[data-status=accepted] button.verify").forEach((b) => (b.hidden = !can));
    },
    setUploadNames(next) {
      names = next;
      // Rows already shown get their names now; new pages are drawn with them.
      for (const tr of body.querySelectorAll<HTMLTableRowElement>("tr[data-upload]")) {
        const name = names.get(tr.dataset.upload ?? "");
        const cell = tr.querySelector("td.filename");
        if (!name || !cell) continue;
        replace(cell, name);
        const line = tr.querySelector("td.num")?.textContent ?? "";
        tr.querySelector("button.verify")?.setAttribute("aria-label", `Verify proof of line ${line} of ${name}`);
      }
    },
  };
}
