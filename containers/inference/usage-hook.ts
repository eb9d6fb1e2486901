// Metering through the GenerationHook seam: every generation, finished or cut off, becomes one
// usage record (idempotent by request id). A paid call is charged what it really cost (per call +
// the completion tokens delivered: none for a failed call or a non-streamed one cut off), its
// PAYMENT-RESPONSE header is added to a JSON response, and `payment` goes into the response body
// (the final chunk of a stream). The record carries the call's own attribution, the span one the
// response carries (shared with attributionHook, so both are the same); where the deployment runs
// the asynchronous (gradient) method it is marked pending, and the call's token ids are kept
// beside the record for that method, which replaces it before settlement (record-usage,
// core/settlement/final-attribution.ts). Without a span attributor: the adapter's static weights.
import type { CallAttribution } from "../../core/attribution/model.ts";
import { loadAdapter } from "../../core/adapters/index.ts";
import { completePayment, recordFreeCall, type CallOutcome, type PaymentsDeps } from "../../core/payments/paid-calls.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { attributionInputItem, recordAttribution } from "../../core/settlement/final-attribution.ts";
import type { SpanAttributor } from "./attribution-hook.ts";
import type { GenerationHook, GenerationRecord } from "./hooks.ts";
import type { UsageGrant } from "./payment-authorizer.ts";

export interface UsageHookOptions {
  tables: Pick<Tables, "main">;
  payments: PaymentsDeps;
  /** The call's span attribution (the same `sharedSpanAttributor` attributionHook uses); absent: the adapter's static weights. */
  attribute?: SpanAttributor;
  /** Whether this deployment runs the asynchronous method on the usage stream (the embedded engine's base models). */
  asyncAttribution?: boolean;
}

/** Whether the gradient method can add to a span attribution: only with an index, and an answer to take the gradient of. */
export function asyncMethodApplies(a: CallAttribution): boolean {
  return a.method !== "static" || a.reason === "below-threshold";
}

export function usageHook(opts: UsageHookOptions): GenerationHook {
  const weights = new Map<string, CallOutcome["attribution"]>();
  async function staticWeights(id: string): Promise<CallOutcome["attribution"]> {
    let w = weights.get(id);
    if (!w) {
      const adapter = await loadAdapter({ tables: opts.tables as Tables }, id);
      w = { method: "static-weights", contributors: (adapter?.contributors ?? []).map((c) => ({ address: c.address, weightBps: c.weightBps })) };
      weights.set(id, w);
    }
    return w;
  }
  async function attributionOf(record: GenerationRecord, delivered: number, recorded: boolean): Promise<CallOutcome["attribution"]> {
    const { model } = record.ctx;
    if (model.kind !== "adapter") return { method: "none", contributors: [] };
    const span = opts.attribute ? await opts.attribute(record) : undefined;
    if (!span) return staticWeights(model.id);
    const pending = opts.asyncAttribution === true && recorded && delivered > 0 && asyncMethodApplies(span);
    if (pending) {
      // Kept before the record is written, so the stream's consumer of the record finds it.
      const input = { requestId: record.ctx.requestId, model: { id: model.id, baseModel: model.baseModel, ...(model.files ? { files: model.files } : {}) }, promptTokenIds: record.promptTokenIds, completionTokenIds: record.completionTokenIds };
      await opts.payments.usage.put(attributionInputItem(input, opts.payments.clock.now()));
    }
    return recordAttribution(span, pending ? "pending" : "final");
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
      // A free call without a payer leaves no record, so nothing is kept for it either.
      attribution: await attributionOf(record, delivered, grant.kind !== "free" || ctx.payer !== null),
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
