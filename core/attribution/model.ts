import { z } from "zod";

/** How a call's attribution was reached. */
export const AttributionMethod = z.enum(["span", "gradient", "combined", "static"]);
export type AttributionMethod = z.infer<typeof AttributionMethod>;

/** Why a call fell back to the adapter's static weights. */
export const StaticReason = z.enum(["no-index", "index-unreadable", "below-threshold", "no-output"]);
export type StaticReason = z.infer<typeof StaticReason>;

/**
 * What determined a scored attribution besides its inputs (the index, the sketches, the call's
 * tokens): the method's version and the settings it ran with. Kept with the result so an old call
 * can be recomputed after a default changes (docs/attribution.md, "Recomputing a call's
 * attribution"); `optionsFromParameters` turns it back into attributeCall's options.
 */
export const AttributionParameters = z.object({
  /** The rules as docs/attribution.md describes them (ATTRIBUTION_METHOD_VERSION); a default changing keeps the version, a rule changing bumps it. */
  version: z.number().int().min(1),
  span: z.object({ minSpanTokens: z.number().int().min(1), maxOccurrences: z.number().int().min(1), minSpanScore: z.number() }),
  /** Present when the call's gradient sketch was compared with the records' (at the sketch file's k and seed). */
  gradient: z.object({ k: z.number().int().min(1), seed: z.number().int(), minCosine: z.number(), topK: z.number().int().min(1), centre: z.boolean() }).optional(),
  /** Share of a record's score from span evidence when both methods scored. */
  spanShare: z.number().min(0).max(1),
  maxRecords: z.number().int().min(0),
});
export type AttributionParameters = z.infer<typeof AttributionParameters>;

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
    /** The settings it was computed with (absent for a static fallback that scored nothing: no index, no output). */
    parameters: AttributionParameters.optional(),
  })
  .meta({ id: "CallAttribution" });
export type CallAttribution = z.infer<typeof CallAttribution>;

/** An adapter's static weights (its share of training tokens), the fallback of every call. */
export interface StaticWeights {
  contributors: ReadonlyArray<{ address: string; weightBps: number }>;
  datanets: ReadonlyArray<{ id: string; version: number; weightBps: number }>;
}
