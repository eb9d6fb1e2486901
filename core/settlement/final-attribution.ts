import type { CallAttribution } from "../attribution/model.ts";
import { TransactionCanceledError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { Item, TableStore } from "../ports/tables.ts";
import { findUsage, usageWrites, type UsageRecord } from "../payments/usage.ts";
import { attributionInputKey } from "./keys.ts";

/**
 * A call's attribution has two moments: the span attribution the response
 * carries, and the final one the asynchronous (gradient) method computes
 * after the response. The fee is split by the final one. This module turns
 * the first into the second, once per request id, before record-usage lets
 * the call join a settlement period (see docs/attribution.md).
 */

/** What a call's asynchronous attribution needs: written beside its usage record, deleted when it has run (it holds the prompt). */
export interface AttributionInput {
  requestId: string;
  /** The served adapter: its id, base model and the blob keys of its PEFT files. */
  model: { id: string; baseModel: string; files?: { config: string; weights: string } };
  promptTokenIds: number[];
  /** Every sampled token id, EOS included when it ended the text. */
  completionTokenIds: number[];
}

/** Computes a call's final attribution (deterministic: the same input gives the same result). */
export type CallAttributor = (input: AttributionInput) => Promise<CallAttribution>;

/** How long an input waits for its asynchronous attribution before the table's TTL drops it. */
export const ATTRIBUTION_INPUT_TTL_SECONDS = 24 * 3600;

/** The item that keeps `input` until the asynchronous attribution has run. */
export function attributionInputItem(input: AttributionInput, nowMs: number): Item {
  return { ...attributionInputKey(input.requestId), kind: "attribution-input", ...input, ttl: Math.floor(nowMs / 1000) + ATTRIBUTION_INPUT_TTL_SECONDS };
}

/** A CallAttribution as a usage record keeps it (no request id: the record has it). */
export function recordAttribution(a: CallAttribution, status: "pending" | "final"): UsageRecord["attribution"] {
  return {
    method: a.method,
    ...(a.reason ? { reason: a.reason } : {}),
    status,
    contributors: a.contributors.map((c) => ({ address: c.address, weightBps: c.weightBps })),
    datanets: a.datanets.map((d) => ({ id: d.id, version: d.version, weightBps: d.weightBps })),
    records: a.records.map((r) => ({ ...r })),
    ...(a.parameters ? { parameters: a.parameters } : {}),
  };
}

export interface FinalizeDeps {
  usage: TableStore;
  clock: Clock;
  /** Absent where the deployment runs no asynchronous method (e.g. vLLM serving): the span attribution becomes final as it is. */
  attribute?: CallAttributor | undefined;
  log?: (level: "info" | "warn", message: string, fields?: Record<string, unknown>) => void;
}

export interface FinalizeResult {
  record: UsageRecord;
  /** "computed": this run wrote the final attribution; "already": an earlier run (or the response) had. */
  outcome: "computed" | "already";
}

/**
 * Makes a call's attribution final, idempotent by request id: a record whose
 * attribution is pending gets the asynchronous method's result (or, when
 * that cannot run — no input kept, no attributor, the method failed — its
 * span attribution, with the reason), written with the condition that no
 * final one was written before. A retry, or a second run racing this one,
 * finds the stored final attribution and returns it unchanged, so a call
 * retried any number of times has one result.
 */
export async function finalizeAttribution(deps: FinalizeDeps, record: UsageRecord): Promise<FinalizeResult> {
  if (record.attribution.status !== "pending" || record.attributedAt !== undefined) return { record, outcome: "already" };
  const stored = await findUsage(deps.usage, record.requestId);
  if (!stored) throw new Error(`usage record ${record.requestId} is not in the table`);
  if (stored.attribution.status !== "pending" || stored.attributedAt !== undefined) return { record: stored, outcome: "already" };

  const attribution = await computeFinal(deps, stored);
  const final: UsageRecord = { ...stored, attribution, attributedAt: new Date(deps.clock.now()).toISOString() };
  const [recordWrite, payerCopy] = usageWrites(final);
  try {
    await deps.usage.transact([
      // Only over a pending attribution: of two runs, one writes; the other reads what it wrote.
      { put: recordWrite!.put, condition: { equals: { attributedAt: undefined } } },
      { put: payerCopy!.put },
      { delete: attributionInputKey(stored.requestId) },
    ]);
  } catch (error) {
    if (!(error instanceof TransactionCanceledError)) throw error;
    const winner = await findUsage(deps.usage, stored.requestId);
    if (!winner?.attributedAt) throw error;
    return { record: winner, outcome: "already" };
  }
  return { record: final, outcome: "computed" };
}

async function computeFinal(deps: FinalizeDeps, record: UsageRecord): Promise<UsageRecord["attribution"]> {
  const span = { ...record.attribution, status: "final" as const };
  if (!deps.attribute) return span;
  const item = await deps.usage.get(attributionInputKey(record.requestId));
  if (!item) {
    deps.log?.("warn", "no input kept for the call's asynchronous attribution; its span attribution is final", { requestId: record.requestId });
    return { ...span, reason: span.reason ?? "async-input-missing" };
  }
  const input: AttributionInput = { requestId: record.requestId, model: item.model as AttributionInput["model"], promptTokenIds: item.promptTokenIds as number[], completionTokenIds: item.completionTokenIds as number[] };
  try {
    return recordAttribution(await deps.attribute(input), "final");
  } catch (error) {
    // A failing method must not hold the call's settlement back: the span evidence stands.
    deps.log?.("warn", "asynchronous attribution failed; the span attribution is final", { requestId: record.requestId, error: error instanceof Error ? error.message : String(error) });
    return { ...span, reason: span.reason ?? "async-failed" };
  }
}
