// Metering through the GenerationHook seam: every generation, finished or cut off, becomes one
// usage record (idempotent by request id). A paid call is charged what it really cost (per call +
// the completion tokens delivered: none for a failed call or a non-streamed one cut off), its
// PAYMENT-RESPONSE header is added to a JSON response, and `payment` goes into the response body
// (the final chunk of a stream). The fee is split later by the adapter's static attribution weights.
import { loadAdapter } from "../../core/adapters/index.ts";
import { completePayment, recordFreeCall, type CallOutcome, type PaymentsDeps } from "../../core/payments/paid-calls.ts";
import type { Tables } from "../../core/ports/tables.ts";
import type { GenerationHook, GenerationRecord } from "./hooks.ts";
import type { UsageGrant } from "./payment-authorizer.ts";

export interface UsageHookOptions {
  tables: Pick<Tables, "main">;
  payments: PaymentsDeps;
}

export function usageHook(opts: UsageHookOptions): GenerationHook {
  const weights = new Map<string, CallOutcome["attribution"]>();
  async function attributionOf(record: GenerationRecord): Promise<CallOutcome["attribution"]> {
    const id = record.ctx.model.id;
    if (record.ctx.model.kind !== "adapter") return { method: "none", contributors: [] };
    let w = weights.get(id);
    if (!w) {
      const adapter = await loadAdapter({ tables: opts.tables as Tables }, id);
      w = { method: "static-weights", contributors: (adapter?.contributors ?? []).map((c) => ({ address: c.address, weightBps: c.weightBps })) };
      weights.set(id, w);
    }
    return w;
  }

  return async (record) => {
    const grant = record.ctx.grant as UsageGrant | undefined;
    if (!grant) return undefined;
    const { ctx } = record;
    // A non-streamed call that was cut off delivered nothing; a stream delivered what it sent.
    const delivered = record.finishReason === "cancelled" && !ctx.stream ? 0 : record.usage.completionTokens;
    const outcome: CallOutcome = {
      adapterId: ctx.model.id,
      baseModel: ctx.model.baseModel,
      owner: ctx.model.owner,
      promptTokens: record.usage.promptTokens,
      completionTokens: delivered,
      finishReason: record.finishReason,
      attribution: await attributionOf(record),
    };
    if (grant.kind === "free") {
      if (ctx.payer) await recordFreeCall(opts.payments, ctx.requestId, ctx.payer, grant.price, outcome);
      return undefined;
    }
    clearTimeout(grant.timer);
    const { record: usage, headers } = await completePayment(opts.payments, grant.grant, outcome);
    ctx.responseHeaders = { ...(ctx.responseHeaders ?? {}), ...headers };
    return { payment: { requestId: usage.requestId, channelId: usage.channelId, charged: usage.charged, cumulativeCharged: usage.cumulativeCharged, maxCost: usage.maxCost } };
  };
}
