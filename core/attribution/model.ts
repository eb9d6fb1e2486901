import { z } from "zod";

/** How a call's attribution was reached. */
export const AttributionMethod = z.enum(["span", "gradient", "combined", "static"]);
export type AttributionMethod = z.infer<typeof AttributionMethod>;

/** Why a call fell back to the adapter's static weights. */
export const StaticReason = z.enum(["no-index", "index-unreadable", "below-threshold", "no-output"]);
export type StaticReason = z.infer<typeof StaticReason>;

/**
 * The `attribution` extension field of a completed call (and of its usage record): who shaped
 * this answer. contributors are sorted by weight (largest first) and their weights add up to
 * 10 000, as do the Datanet versions'; records are the (at most 10) highest-scoring training
 * records, scores normalised so all scored records add up to 1.
 */
export const CallAttribution = z
  .object({
    requestId: z.string().min(1),
    method: AttributionMethod,
    /** Only for method "static": why per-call attribution did not apply. */
    reason: StaticReason.optional(),
    contributors: z.array(z.object({ address: z.string(), weightBps: z.number().int().min(0).max(10_000) })),
    datanets: z.array(z.object({ id: z.string(), version: z.number().int(), weightBps: z.number().int().min(0).max(10_000) })),
    records: z.array(z.object({ contributionId: z.string(), datanetId: z.string(), version: z.number().int(), contributor: z.string(), score: z.number().min(0).max(1) })).max(10),
  })
  .meta({ id: "CallAttribution" });
export type CallAttribution = z.infer<typeof CallAttribution>;

/** An adapter's static weights (its share of training tokens), the fallback of every call. */
export interface StaticWeights {
  contributors: ReadonlyArray<{ address: string; weightBps: number }>;
  datanets: ReadonlyArray<{ id: string; version: number; weightBps: number }>;
}
