// One call's attribution: span and gradient evidence → per-record scores → contributors and
// Datanet versions in basis points, or the adapter's static weights when nothing clears the
// threshold. Pure and deterministic: the same inputs give the same attribution, so a retried
// asynchronous step writes the same result.
import { splitBps, TOTAL_BPS } from "../jobs/attribution.ts";
import { DEFAULT_GRADIENT_OPTIONS, scoreSketches, type GradientOptions, type SketchSet } from "./gradient-attribution.ts";
import type { AttributionMethod, AttributionParameters, CallAttribution, StaticReason, StaticWeights } from "./model.ts";
import { DEFAULT_SPAN_OPTIONS, scoreSpans, type ScoredSpan, type SpanOptions } from "./span-attribution.ts";
import type { SpanIndex } from "./span-index.ts";

export interface AttributionOptions {
  span: Partial<SpanOptions>;
  gradient: Partial<GradientOptions>;
  /** A record needs at least this much span evidence (5 ≈ a 4-token span held by 3 of 300 records). */
  minSpanScore: number;
  /**
   * Share of the combined score that comes from span evidence when both methods scored: 0.99, so
   * gradient evidence breaks near-ties between span's contributors and decides alone only where
   * no span counts. On the planted facts' tuning paraphrases combined was never above span alone
   * at any share, on any seed (2–6 at 100 passes), and 0.99 was the best share summed over the
   * choosing seeds 4–6 (one call of 120 ahead of 0.9 and 0.95): docs/benchmarks.md, "Seeds 7 and 8".
   * 0.9 before (seeds 2 and 3), 0.5 before that.
   */
  spanShare: number;
  /** Records listed in the attribution. */
  maxRecords: number;
}

export const DEFAULT_ATTRIBUTION_OPTIONS: AttributionOptions = { span: {}, gradient: {}, minSpanScore: 5, spanShare: 0.99, maxRecords: 10 };

/** The rules of docs/attribution.md's recompute recipe; a changed default keeps it, a changed rule bumps it. */
export const ATTRIBUTION_METHOD_VERSION = 1;

/** The settings a result records (`parameters`): everything besides the inputs that decided it. */
function parametersOf(opts: AttributionOptions, sketches: SketchSet | null): AttributionParameters {
  const span = { ...DEFAULT_SPAN_OPTIONS, ...opts.span }, gradient = { ...DEFAULT_GRADIENT_OPTIONS, ...opts.gradient };
  return {
    version: ATTRIBUTION_METHOD_VERSION,
    span: { minSpanTokens: span.minSpanTokens, maxOccurrences: span.maxOccurrences, minSpanScore: opts.minSpanScore },
    ...(sketches ? { gradient: { k: sketches.k, seed: sketches.seed, minCosine: gradient.minCosine, topK: gradient.topK, centre: gradient.centre } } : {}),
    spanShare: opts.spanShare,
    maxRecords: opts.maxRecords,
  };
}

/**
 * attributeCall's options that reproduce a recorded result: `attributeCall(input, optionsFromParameters(a.parameters))`
 * gives `a` again from the same inputs, whatever the defaults are now.
 */
export function optionsFromParameters(p: AttributionParameters): AttributionOptions {
  if (p.version !== ATTRIBUTION_METHOD_VERSION) throw new RangeError(`attribution parameters of method version ${p.version}: this code computes version ${ATTRIBUTION_METHOD_VERSION}`);
  return {
    span: { minSpanTokens: p.span.minSpanTokens, maxOccurrences: p.span.maxOccurrences },
    gradient: p.gradient ? { minCosine: p.gradient.minCosine, topK: p.gradient.topK, centre: p.gradient.centre } : {},
    minSpanScore: p.span.minSpanScore,
    spanShare: p.spanShare,
    maxRecords: p.maxRecords,
  };
}

export interface CallInput {
  requestId: string;
  /** The adapter's span index; null when it has none (trained before it existed) or it was unusable. */
  index: SpanIndex | null;
  /** Why there is no index, when there is none (default "no-index"). */
  indexProblem?: "no-index" | "index-unreadable";
  prompt: ArrayLike<number>; // prompt token ids as the model saw them
  output: ArrayLike<number>; // generated token ids (without the end-of-text token)
  /** Records' gradient sketches and the call's own, when gradient attribution ran. */
  gradient?: { sketches: SketchSet; query: Float32Array } | null;
  static: StaticWeights;
}

export interface CallEvidence {
  spans: ScoredSpan[];
  /** Per scored record index: raw span evidence (output, prompt+output), cosine, final score. */
  records: Array<{ record: number; output: number; context: number; cosine: number | null; score: number }>;
}

/** Attributes one call; never throws for a missing index or weak evidence (it falls back to static). */
export function attributeCall(input: CallInput, options: Partial<AttributionOptions> = {}): { attribution: CallAttribution; evidence: CallEvidence } {
  const opts = { ...DEFAULT_ATTRIBUTION_OPTIONS, ...options };
  const { index } = input;
  if (!index) return staticResult(input, input.indexProblem ?? "no-index", { spans: [], records: [] });
  if (input.output.length === 0) return staticResult(input, "no-output", { spans: [], records: [] });

  const spans = scoreSpans(index, input.prompt, input.output, opts.span);
  const spanScore = new Map<number, number>();
  for (const [r, s] of spans.byRecord) if (s.output + s.context >= opts.minSpanScore) spanScore.set(r, s.output + s.context);
  // Sketches of another record set or size cannot be compared: the call goes on with spans alone.
  const g = input.gradient;
  const usable = g && g.query.length === g.sketches.k && g.sketches.sketches.length === index.records.length * g.sketches.k;
  const cosines = usable ? scoreSketches(g.sketches, g.query, opts.gradient) : new Map<number, number>();
  const parameters = parametersOf(opts, usable ? g.sketches : null);

  const spanN = normalise(spanScore), gradN = normalise(new Map(cosines));
  const method: AttributionMethod | null = spanN.size && gradN.size ? "combined" : spanN.size ? "span" : gradN.size ? "gradient" : null;
  const evidenceOf = (score: Map<number, number>): CallEvidence => ({
    spans: spans.spans,
    records: [...score].map(([record, s]) => ({ record, output: spans.byRecord.get(record)?.output ?? 0, context: spans.byRecord.get(record)?.context ?? 0, cosine: cosines.get(record) ?? null, score: s })),
  });
  if (!method) return staticResult(input, "below-threshold", evidenceOf(new Map()), parameters);

  const share = method === "combined" ? opts.spanShare : method === "span" ? 1 : 0;
  const score = new Map<number, number>();
  for (const [r, s] of spanN) score.set(r, share * s);
  for (const [r, g] of gradN) score.set(r, (score.get(r) ?? 0) + (1 - share) * g);

  const ranked = [...score].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const rec = (r: number) => index.records[r]!;
  const contributors = rollUp(ranked, (r) => rec(r).contributor.toLowerCase(), (r) => ({ address: rec(r).contributor }));
  const datanets = rollUp(ranked, (r) => `${rec(r).datanetId}\u0000${rec(r).version}`, (r) => ({ id: rec(r).datanetId, version: rec(r).version }));
  const attribution: CallAttribution = {
    requestId: input.requestId,
    method,
    contributors: contributors.map((c) => ({ address: c.address, weightBps: c.weightBps })),
    datanets: datanets.map((d) => ({ id: d.id, version: d.version, weightBps: d.weightBps })),
    records: ranked.slice(0, opts.maxRecords).map(([r, s]) => ({ ...rec(r), score: round6(s) })),
    parameters,
  };
  // The evidence is for tests and audits; built only when read, so a call that does not look pays nothing for it.
  let evidence: CallEvidence | undefined;
  return { attribution, get evidence() { return (evidence ??= evidenceOf(new Map(ranked))); } };
}

/** Scales the scores in place to add up to 1 (a map whose total is not positive is emptied). */
function normalise(m: Map<number, number>): Map<number, number> {
  let total = 0;
  for (const v of m.values()) total += v;
  if (total > 0) for (const [k, v] of m) m.set(k, v / total);
  else m.clear();
  return m;
}

// Scores are summed per group, scaled to integers (1e-9 resolution) and split by the largest
// remainder (core/jobs/attribution.ts), so the weights add up to exactly 10 000. Groups that
// round to 0 bps are dropped; the rest are sorted by weight, then by key.
function rollUp<T extends object>(ranked: Array<[number, number]>, key: (r: number) => string, make: (r: number) => T): Array<T & { weightBps: number }> {
  const groups = new Map<string, { value: T; score: number }>();
  for (const [r, s] of ranked) {
    const k = key(r);
    const g = groups.get(k) ?? { value: make(r), score: 0 };
    g.score += s;
    groups.set(k, g);
  }
  const keys = [...groups.keys()].sort();
  const bps = splitBps(keys.map((k) => Math.max(1, Math.round(groups.get(k)!.score * 1e9))), TOTAL_BPS);
  return keys
    .map((k, i) => ({ ...groups.get(k)!.value, weightBps: bps[i]!, key: k }))
    .filter((g) => g.weightBps > 0)
    .sort((a, b) => b.weightBps - a.weightBps || (a.key < b.key ? -1 : 1))
    .map(({ key: _key, ...g }) => g as T & { weightBps: number });
}

function staticResult(input: CallInput, reason: StaticReason, evidence: CallEvidence, parameters?: AttributionParameters): { attribution: CallAttribution; evidence: CallEvidence } {
  const s = input.static;
  // Re-split so a static weight set that does not add up to 10 000 still yields one that does.
  const cw = s.contributors.length ? splitBps(s.contributors.map((c) => c.weightBps)) : [];
  const dw = s.datanets.length ? splitBps(s.datanets.map((d) => d.weightBps)) : [];
  const contributors = s.contributors.map((c, i) => ({ address: c.address, weightBps: cw[i]! })).filter((c) => c.weightBps > 0).sort((a, b) => b.weightBps - a.weightBps || (a.address.toLowerCase() < b.address.toLowerCase() ? -1 : 1));
  const datanets = s.datanets.map((d, i) => ({ id: d.id, version: d.version, weightBps: dw[i]! })).filter((d) => d.weightBps > 0).sort((a, b) => b.weightBps - a.weightBps);
  // Below the threshold the settings decided it, so they are kept; with no index or no output nothing was scored.
  return { attribution: { requestId: input.requestId, method: "static", reason, contributors, datanets, records: [], ...(parameters ? { parameters } : {}) }, evidence };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
