// Proof of Attribution, per call: the span index and its scoring, seeded gradient sketches,
// and combining them into a call's contributors and Datanet versions. Pure: no I/O.
export { AttributionError, AttributionIndexError } from "./errors.ts";
export { buildSuffixArray, narrow, isSuffixArrayOf } from "./suffix-array.ts";
export { SPAN_INDEX_FORMAT, buildSpanIndex, checkSpanIndex, maximalMatches, recordAt, recordOfPositions, type IndexedRecord, type SpanIndex, type SpanMatch } from "./span-index.ts";
export { DEFAULT_SPAN_OPTIONS, scoreSpans, type ScoredSpan, type SpanOptions, type SpanScores } from "./span-attribution.ts";
export { SKETCH_FORMAT, coordinateState, projectGradient } from "./projection.ts";
export { DEFAULT_GRADIENT_OPTIONS, scoreSketches, type GradientOptions, type SketchSet } from "./gradient-attribution.ts";
export { ATTRIBUTION_METHOD_VERSION, DEFAULT_ATTRIBUTION_OPTIONS, attributeCall, optionsFromParameters, type AttributionOptions, type CallEvidence, type CallInput } from "./attribute-call.ts";
export { AttributionMethod, AttributionParameters, CallAttribution, StaticReason, type StaticWeights } from "./model.ts";
