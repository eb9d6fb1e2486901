// Pay-per-call through the Authorizer seam (hooks.ts): a call to a priced adapter needs an x402
// payment (PAYMENT-SIGNATURE with a cumulative voucher, checked off chain by core/payments) and
// answers 402 with a quote without one; a free model keeps the API-key rules of `inner`.
// The usage hook (usage-hook.ts) then charges what the call really cost and records it.
import { readPrice } from "../../core/payments/adapter-prices.ts";
import { abandonPayment, authorizePayment, type PaymentGrant, type PaymentsDeps } from "../../core/payments/paid-calls.ts";
import { Headers402 } from "../../core/payments/x402.ts";
import { isFree, type Price } from "../../core/payments/prices.ts";
import type { Tables } from "../../core/ports/tables.ts";
import type { Authorizer } from "./hooks.ts";

/** What the usage hook finds in `ctx.grant`. */
export type UsageGrant = { kind: "free"; price: Price } | { kind: "paid"; grant: PaymentGrant; timer: ReturnType<typeof setTimeout> };

export interface PaymentAuthorizerOptions {
  tables: Pick<Tables, "main">;
  payments: PaymentsDeps;
  /** The authorizer of free calls (the platform's API keys). */
  inner: Authorizer;
  /** Public origin of the OpenAI routes, for the quote's `resource.url`. */
  origin?: string;
  /**
   * A granted call that never reaches the usage hook (refused by admission control, say) lets its
   * channel go after this long, charging nothing (default: 2 minutes + 10 s, past the request timeout).
   */
  abandonAfterMs?: number;
}

export function paymentAuthorizer(opts: PaymentAuthorizerOptions): Authorizer {
  return {
    identify: (headers) => opts.inner.identify(headers),
    async authorize(ctx) {
      const price: Price = ctx.model.kind === "adapter" ? await readPrice(opts.tables.main, ctx.model.id) : { perCall: "0", perThousandOutputTokens: "0" };
      if (isFree(price)) {
        const inner = await opts.inner.authorize(ctx);
        return inner.allow ? { ...inner, grant: { kind: "free", price } satisfies UsageGrant } : inner;
      }
      const path = ctx.route === "chat.completions" ? "/v1/chat/completions" : "/v1/completions";
      const decision = await authorizePayment(opts.payments, {
        requestId: ctx.requestId,
        price,
        maxTokens: ctx.maxTokens ?? 256,
        resource: { url: `${opts.origin ?? ""}${path}`, description: `${ctx.route} with ${ctx.model.id}`, mimeType: ctx.stream ? "text/event-stream" : "application/json" },
        paymentHeader: ctx.headers.get(Headers402.signature),
      });
      if (!decision.ok) return { allow: false, status: 402, headers: decision.headers, body: decision.body };
      const grant = decision.grant;
      const timer = setTimeout(() => void abandonPayment(opts.payments, grant).catch(() => {}), opts.abandonAfterMs ?? 130_000);
      timer.unref();
      return { allow: true, payer: grant.channel.payer, principal: `payer:${grant.channel.payer}`, price: price.perCall, grant: { kind: "paid", grant, timer } satisfies UsageGrant };
    },
  };
}
