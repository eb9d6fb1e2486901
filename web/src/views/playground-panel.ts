import type { AdapterView } from "../../../core/adapters/model.ts";
import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatBps, formatCount, shortHex } from "../format.ts";
import { ChatError, readChatStream, type ChatResult } from "../playground/chat-stream.ts";
import { routeHref } from "../router.ts";
import type { BrowserChannel, QuoteTerms } from "../payments/browser-payer.ts";
import { errorBox, isAbort } from "./common.ts";

/** ethers, x402 and the wallet code load with the first paid call, not with the page. */
const payments = () => import("../payments/browser-payer.ts");
const chainWallet = () => import("../payments/chain-wallet.ts");
/** A new channel's deposit unless the person types another, in base units. */
const DEFAULT_DEPOSIT = 100_000n;
/** How long a call waits for the platform to see a channel just opened. */
const CHANNEL_WAIT_MS = 60_000;

/**
 * A chat with the adapter over the streaming /v1/chat/completions: sampling
 * settings, the answer as it streams, its token counts and price, and under
 * it the call's attribution (contributors and the records that shaped it,
 * linked to their Datanets). "Side by side" asks the base model the same
 * question. A priced adapter answers 402 until a payment is attached: the
 * page explains it, opens and funds a payment channel with the account's
 * wallet when asked to (the dev wallet on the local chain), then signs a
 * voucher per call with the channel's own key and shows what is left.
 */
export function playgroundPanel(ctx: AppContext, adapter: AdapterView, signal: AbortSignal): HTMLElement {
  const prompt = h("textarea", { id: "pg-prompt", rows: 3, placeholder: "Ask the adapter something…" });
  const temperature = h("input", { id: "pg-temperature", type: "number", min: 0, max: 2, step: 0.1, value: "0.7" });
  const maxTokens = h("input", { id: "pg-max-tokens", type: "number", min: 1, max: 512, step: 1, value: "64" });
  const sideBySide = h("input", { id: "pg-side", type: "checkbox" });
  const send = h("button", { type: "submit", class: "button primary", "data-testid": "pg-send" }, "Send");
  const log = h("div", { class: "pg-log", "data-testid": "pg-log", "aria-live": "polite" });
  let price: { perCall: string; perThousandOutputTokens: string } | undefined;
  const payBox = h("div", { class: "pg-payment", "data-testid": "pg-payment", hidden: true });
  const deposit = h("input", { id: "pg-deposit", type: "number", min: 1, step: 1, value: DEFAULT_DEPOSIT.toString(), inputmode: "numeric" });
  let channel: BrowserChannel | undefined;
  void ctx.api.getAdapterPrice(adapter.id, signal).then((p) => {
    price = p;
    if (BigInt(p.perCall) > 0n || BigInt(p.perThousandOutputTokens) > 0n) void showChannel();
  }, () => undefined);

  /** The channel this browser holds on the platform's escrow, if any, and what it has left. */
  async function showChannel() {
    const session = ctx.session();
    if (!session || !price) return;
    payBox.hidden = false;
    const [{ ChannelBook }, chain] = await Promise.all([payments(), ctx.api.getChain(signal).catch(() => undefined)]);
    channel = chain ? new ChannelBook(session.address).list().reverse().find((c) => c.chainId === chain.chainId && c.escrow.toLowerCase() === chain.contracts.paymentEscrow.toLowerCase()) : undefined;
    renderChannel();
  }

  function renderChannel(note?: Node | string) {
    const priceLine = price ? `Priced at ${price.perCall} base units per call + ${price.perThousandOutputTokens} per 1,000 output tokens.` : "";
    if (!channel) {
      replace(payBox, h("p", {}, priceLine, " Calls are paid from a payment channel: a deposit in the PaymentEscrow contract that each call's voucher draws on. The first call asks you to open one."),
        h("div", { class: "field inline" }, h("label", { for: "pg-deposit" }, "Deposit (base units)"), deposit), note ?? null);
      return;
    }
    const left = BigInt(channel.deposit) - BigInt(channel.charged);
    replace(payBox,
      h("p", {}, priceLine),
      h("dl", { class: "facts" },
        h("dt", {}, "Channel"), h("dd", {}, h("code", { title: channel.channelId }, shortHex(channel.channelId, 10, 6))),
        h("dt", {}, "Deposit"), h("dd", { "data-channel": "deposit" }, channel.deposit),
        h("dt", {}, "Charged"), h("dd", { "data-channel": "charged" }, channel.charged),
        h("dt", {}, "Left"), h("dd", { "data-channel": "left" }, left.toString())),
      note ?? null);
  }

  const form = h("form", { class: "form playground-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "pg-prompt" }, "Message"), prompt),
    h("div", { class: "row pg-settings" },
      h("div", { class: "field inline" }, h("label", { for: "pg-temperature" }, "Temperature"), temperature),
      h("div", { class: "field inline" }, h("label", { for: "pg-max-tokens" }, "Max tokens"), maxTokens),
      h("div", { class: "field inline" }, sideBySide, h("label", { for: "pg-side" }, `Side by side with ${adapter.baseModel}`)),
      send));

  /** One model's answer, streamed into its own column; a 402 is paid from the channel (or explained, with a way to open one). */
  async function ask(model: string, label: string, question: string, column: HTMLElement) {
    const text = h("p", { class: "pg-text", "data-testid": "pg-answer" });
    const meta = h("div", { class: "pg-meta muted small" }, "…");
    replace(column, h("h4", {}, label), text, meta);
    const body = {
      model, stream: true, stream_options: { include_usage: true },
      messages: [{ role: "user", content: question }],
      temperature: Number(temperature.value) || 0, max_tokens: Math.max(1, Math.round(Number(maxTokens.value) || 64)),
    };
    try {
      let res = await ctx.api.chatCompletions(body, signal);
      const deadline = Date.now() + CHANNEL_WAIT_MS;
      for (let round = 0; res.status === 402 && round < 100; round++) {
        const pay = await payments();
        const terms = await pay.readQuote(res);
        if (!terms) break;
        if (!channel) return offerChannel(terms, model, label, question, column, meta);
        if (terms.channel && terms.channel.channelId.toLowerCase() === channel.channelId.toLowerCase()) {
          // The platform's figures win: it may know a charge whose receipt this page missed.
          channel = new pay.ChannelBook(channel.payer).save({ ...channel, charged: terms.channel.charged.toString(), deposit: terms.channel.deposit.toString() });
        }
        if (terms.reason === "voucher-unknown-channel") {
          if (Date.now() > deadline) throw new Error(pay.explain402(terms.reason));
          replace(meta, "Waiting for the platform to see the new channel…");
          await new Promise((r) => setTimeout(r, 500));
        } else if (terms.reason === "voucher-above-deposit" || BigInt(channel.charged) + terms.amount > BigInt(channel.deposit)) {
          return offerFunding(terms, model, label, question, column, meta);
        } else if (!["payment-required", "voucher-below-quote", "voucher-not-above-charged"].includes(terms.reason)) {
          throw new Error(pay.explain402(terms.reason));
        }
        await res.body?.cancel();
        res = await ctx.api.chatCompletions(body, signal, await pay.paymentFor(channel, terms));
      }
      const result = await readChatStream(res, (d) => text.append(d));
      if (result.payment) {
        const pay = await payments();
        channel = pay.applyReceipt(new pay.ChannelBook(ctx.session()!.address), result.payment) ?? channel;
        renderChannel();
      }
      replace(meta, callFacts(result, model === adapter.id));
      column.dataset.done = "true";
    } catch (err) {
      if (isAbort(err, signal)) return;
      column.dataset.done = "error";
      replace(meta, h("div", { class: "alert alert-error", role: "alert", "data-testid": "pg-error" },
        err instanceof ChatError && err.status === 402
          ? ["This adapter is priced: each call needs a payment (x402). ", h("strong", {}, err.message)]
          : err instanceof Error ? err.message : String(err)));
    }
  }

  /** A 402 and no channel yet: say what it means and offer to open one with the typed deposit, then ask again. */
  function offerChannel(terms: QuoteTerms, model: string, label: string, question: string, column: HTMLElement, meta: HTMLElement) {
    column.dataset.done = "payment";
    const open = h("button", { type: "button", class: "button primary small", "data-testid": "pg-open-channel" }, "Open channel and send");
    const status = h("div", { role: "status", "aria-live": "polite" });
    open.addEventListener("click", () => void (async () => {
      open.disabled = true;
      try {
        const amount = parseDeposit(deposit.value, terms.amount);
        replace(status, `Opening a channel with ${amount} base units: confirm in your wallet…`);
        const session = ctx.session()!;
        const [pay, { chainSigner }, chain] = await Promise.all([payments(), chainWallet(), ctx.api.getChain(signal)]);
        const payer = await chainSigner(session, chain);
        channel = await pay.openChannel(payer, terms, amount, new pay.ChannelBook(session.address), chain.local);
        renderChannel(h("p", { class: "muted small" }, "Opened in transaction ", h("code", { title: channel.openedTx }, shortHex(channel.openedTx, 10, 6)), "."));
        await ask(model, label, question, column);
      } catch (err) {
        open.disabled = false;
        if (!isAbort(err, signal)) replace(status, errorBox(chainError(err)));
      }
    })());
    replace(meta, h("div", { class: "alert alert-info", "data-testid": "pg-402" },
      h("p", {}, h("strong", {}, "402 Payment Required. "), explainFirst(terms)),
      h("p", {}, `This call costs at most ${terms.amount} base units of the token at `, h("code", { title: terms.asset }, shortHex(terms.asset)), "; what it really costs is charged and the rest stays in your channel."),
      h("div", { class: "row" }, open), status));
    open.focus();
  }

  /** The channel's deposit is too small for the call: offer to add to it, then ask again. */
  function offerFunding(terms: QuoteTerms, model: string, label: string, question: string, column: HTMLElement, meta: HTMLElement) {
    column.dataset.done = "payment";
    const fund = h("button", { type: "button", class: "button primary small", "data-testid": "pg-fund-channel" }, "Fund channel and send");
    const status = h("div", { role: "status", "aria-live": "polite" });
    fund.addEventListener("click", () => void (async () => {
      fund.disabled = true;
      try {
        const amount = parseDeposit(deposit.value, terms.amount);
        const session = ctx.session()!;
        const [pay, { chainSigner }, chain] = await Promise.all([payments(), chainWallet(), ctx.api.getChain(signal)]);
        channel = await pay.fundChannel(await chainSigner(session, chain), channel!, amount, new pay.ChannelBook(session.address), chain.local);
        renderChannel();
        await ask(model, label, question, column);
      } catch (err) {
        fund.disabled = false;
        if (!isAbort(err, signal)) replace(status, errorBox(chainError(err)));
      }
    })());
    replace(meta, h("div", { class: "alert alert-warn", "data-testid": "pg-402" },
      h("p", {}, h("strong", {}, "402 Payment Required. "), `The channel has ${BigInt(channel!.deposit) - BigInt(channel!.charged)} base units left and this call may cost ${terms.amount}.`),
      h("div", { class: "field inline" }, h("label", { for: "pg-deposit" }, "Add (base units)"), deposit), h("div", { class: "row" }, fund), status));
  }

  function callFacts(r: ChatResult, isAdapter: boolean): HTMLElement {
    // A paid call's receipt says what was charged; a free one's price is worked out from the usage.
    const cost = isAdapter && r.payment ? BigInt(r.payment.charged) : isAdapter && price && r.usage
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

  return h("div", { class: "playground", "data-testid": "playground" }, payBox, form, log);
}

/** The first 402's words: what paying per call means here. */
function explainFirst(terms: QuoteTerms): string {
  return terms.reason === "payment-required"
    ? "This adapter is priced: each call carries a voucher signed on a payment channel (x402). Opening one moves your deposit into the PaymentEscrow contract with one wallet confirmation; after that each call is signed in this page, with no prompt."
    : `The platform refused the payment (${terms.reason}).`;
}

/** The typed deposit as base units, at least what the call needs. */
function parseDeposit(typed: string, atLeast: bigint): bigint {
  if (!/^[1-9][0-9]{0,30}$/.test(typed.trim())) throw new Error("The deposit must be a whole number of base units above 0.");
  const amount = BigInt(typed.trim());
  return amount > atLeast ? amount : atLeast;
}

/** A wallet's or the chain's refusal in words (ethers puts the reason in `shortMessage`). */
function chainError(err: unknown): unknown {
  if (err && typeof err === "object" && "shortMessage" in err && typeof (err as { shortMessage: unknown }).shortMessage === "string") {
    return new Error(`The transaction did not go through: ${(err as { shortMessage: string }).shortMessage}`);
  }
  return err;
}
