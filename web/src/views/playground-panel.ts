import type { AdapterView } from "../../../core/adapters/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatBps, formatCount, shortHex } from "../format.ts";
import { ChatError, readChatStream, type ChatResult } from "../playground/chat-stream.ts";
import { routeHref } from "../router.ts";
import { isAbort } from "./common.ts";

/**
 * A chat with the adapter over the streaming /v1/chat/completions: sampling
 * settings, the answer as it streams, its token counts and price, and under
 * it the call's attribution (contributors and the records that shaped it,
 * linked to their Datanets). "Side by side" asks the base model the same
 * question. A priced adapter answers 402 until a payment is attached: the
 * page says what that means (paying from the browser is not built yet).
 */
export function playgroundPanel(ctx: AppContext, adapter: AdapterView, signal: AbortSignal): HTMLElement {
  const prompt = h("textarea", { id: "pg-prompt", rows: 3, placeholder: "Ask the adapter something…" });
  const temperature = h("input", { id: "pg-temperature", type: "number", min: 0, max: 2, step: 0.1, value: "0.7" });
  const maxTokens = h("input", { id: "pg-max-tokens", type: "number", min: 1, max: 512, step: 1, value: "64" });
  const sideBySide = h("input", { id: "pg-side", type: "checkbox" });
  const send = h("button", { type: "submit", class: "button primary", "data-testid": "pg-send" }, "Send");
  const log = h("div", { class: "pg-log", "data-testid": "pg-log", "aria-live": "polite" });
  let price: { perCall: string; perThousandOutputTokens: string } | undefined;
  void ctx.api.getAdapterPrice(adapter.id, signal).then((p) => (price = p), () => undefined);

  const form = h("form", { class: "form playground-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "pg-prompt" }, "Message"), prompt),
    h("div", { class: "row pg-settings" },
      h("div", { class: "field inline" }, h("label", { for: "pg-temperature" }, "Temperature"), temperature),
      h("div", { class: "field inline" }, h("label", { for: "pg-max-tokens" }, "Max tokens"), maxTokens),
      h("div", { class: "field inline" }, sideBySide, h("label", { for: "pg-side" }, `Side by side with ${adapter.baseModel}`)),
      send));

  /** One model's answer, streamed into its own column. */
  async function ask(model: string, label: string, question: string, column: HTMLElement) {
    const text = h("p", { class: "pg-text", "data-testid": "pg-answer" });
    const meta = h("div", { class: "pg-meta muted small" }, "…");
    replace(column, h("h4", {}, label), text, meta);
    try {
      const res = await ctx.api.chatCompletions({
        model, stream: true, stream_options: { include_usage: true },
        messages: [{ role: "user", content: question }],
        temperature: Number(temperature.value) || 0, max_tokens: Math.max(1, Math.round(Number(maxTokens.value) || 64)),
      }, signal);
      const result = await readChatStream(res, (d) => text.append(d));
      replace(meta, callFacts(result, model === adapter.id));
      column.dataset.done = "true";
    } catch (err) {
      if (isAbort(err, signal)) return;
      column.dataset.done = "error";
      replace(meta, h("div", { class: "alert alert-error", role: "alert", "data-testid": "pg-error" },
        err instanceof ChatError && err.status === 402
          ? ["This adapter is priced: each call needs a payment (x402). ", h("strong", {}, err.message), " Paying from this page is not built yet; an API client can pay with the terms in the 402 response."]
          : err instanceof Error ? err.message : String(err)));
    }
  }

  function callFacts(r: ChatResult, isAdapter: boolean): HTMLElement {
    const cost = isAdapter && price && r.usage
      ? BigInt(price.perCall) + (BigInt(price.perThousandOutputTokens) * BigInt(r.usage.completion_tokens) + 999n) / 1000n
      : undefined;
    const a = r.attribution;
    return h("div", {},
      h("p", { "data-testid": "pg-usage" },
        r.usage ? `${formatCount(r.usage.prompt_tokens)} prompt + ${formatCount(r.usage.completion_tokens)} completion tokens` : "no usage reported",
        cost !== undefined ? ` · price ${cost.toString()} base units` : isAdapter ? "" : " · base model"),
      a ? h("div", { class: "pg-attribution", "data-testid": "pg-attribution" },
        h("p", {}, `Attribution (${a.method}): `, a.contributors.flatMap((c, i) => [i > 0 ? ", " : "", h("code", { title: c.address }, shortHex(c.address)), ` ${formatBps(c.weightBps)}`])),
        a.records.length > 0
          ? h("ul", { class: "plain" }, a.records.map((rec) => h("li", {},
            h("a", { href: routeHref({ name: "datanet", id: rec.datanetId }) }, `${rec.datanetId} v${rec.version}`), " · ",
            h("code", { title: rec.contributionId }, shortHex(rec.contributionId, 14, 6)), ` · score ${rec.score.toFixed(3)}`)))
          : null) : null);
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const question = prompt.value.trim();
    if (!question) return prompt.focus();
    send.disabled = true;
    const mine = h("div", { class: "pg-column", "data-model": adapter.id });
    const base = sideBySide.checked ? h("div", { class: "pg-column", "data-model": adapter.baseModel }) : null;
    log.prepend(h("div", { class: "pg-turn card" }, h("p", { class: "pg-question" }, h("strong", {}, "You: "), question), h("div", { class: "pg-columns" }, mine, base)));
    try {
      await Promise.all([ask(adapter.id, "Adapter", question, mine), base ? ask(adapter.baseModel, "Base model", question, base) : null]);
    } finally {
      send.disabled = false;
    }
  });

  return h("div", { class: "playground", "data-testid": "playground" }, form, log);
}
