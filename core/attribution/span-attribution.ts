// Span attribution: which training records hold the longest, rarest verbatim spans of a
// call's output. Two queries are scored apart: the output alone, and prompt+output (only
// spans that cross from the prompt into the output count there, so a span is never counted
// twice and a prompt that merely quotes a record earns that record nothing).
import { maximalMatches, recordAt, type SpanIndex, type SpanMatch } from "./span-index.ts";

export interface SpanOptions {
  /** Shortest span that counts, in tokens (shorter ones match by chance). */
  minSpanTokens: number;
  /** A span found in more places than this is too common to name anyone: it scores 0. */
  maxOccurrences: number;
}

export const DEFAULT_SPAN_OPTIONS: SpanOptions = { minSpanTokens: 4, maxOccurrences: 1000 };

/** One scored span, for the call's record (positions in the query it came from). */
export interface ScoredSpan {
  query: "output" | "prompt+output";
  start: number;
  length: number;
  records: number; // distinct training records holding it
  weight: number; // length · ln((N+1)/records), shared equally by those records
}

export interface SpanScores {
  /** Per record index: evidence from the output alone and from prompt+output spans. */
  byRecord: Map<number, { output: number; context: number }>;
  spans: ScoredSpan[];
}

/**
 * Scores training records by the verbatim spans of `output` (and of prompt+output) in the index.
 * A maximal span of length L held by c of the index's N records has weight L · ln((N+1)/c),
 * split equally among the c records: long spans count more, and a span every record shares
 * (a prompt template) weighs almost nothing.
 */
export function scoreSpans(index: SpanIndex, prompt: ArrayLike<number>, output: ArrayLike<number>, options: Partial<SpanOptions> = {}): SpanScores {
  const opts = { ...DEFAULT_SPAN_OPTIONS, ...options };
  const byRecord = new Map<number, { output: number; context: number }>();
  const spans: ScoredSpan[] = [];
  const N = index.records.length;
  const credit = (m: SpanMatch, query: ScoredSpan["query"], start: number) => {
    const occurrences = m.hi - m.lo;
    if (occurrences > opts.maxOccurrences) {
      spans.push({ query, start, length: m.length, records: -1, weight: 0 });
      return;
    }
    const holders = new Set<number>();
    for (let j = m.lo; j < m.hi; j++) holders.add(recordAt(index, index.suffixArray[j]!));
    const weight = m.length * Math.log((N + 1) / holders.size);
    spans.push({ query, start, length: m.length, records: holders.size, weight });
    for (const r of holders) {
      const s = byRecord.get(r) ?? { output: 0, context: 0 };
      if (query === "output") s.output += weight / holders.size;
      else s.context += weight / holders.size;
      byRecord.set(r, s);
    }
  };
  if (N === 0) return { byRecord, spans };
  for (const m of maximalMatches(index, output, opts.minSpanTokens)) credit(m, "output", m.start);
  const joined = new Int32Array(prompt.length + output.length);
  joined.set(Array.from(prompt), 0);
  joined.set(Array.from(output), prompt.length);
  for (const m of maximalMatches(index, joined, opts.minSpanTokens))
    if (m.start < prompt.length && m.start + m.length > prompt.length) credit(m, "prompt+output", m.start);
  return { byRecord, spans };
}
