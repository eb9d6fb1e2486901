// Span attribution: which training records hold the longest, rarest verbatim spans of a
// call's output. Two queries are scored apart: the output alone, and prompt+output (only
// spans that cross from the prompt into the output count there, so a span is never counted
// twice and a prompt that merely quotes a record earns that record nothing).
import { maximalMatches, recordOfPositions, type SpanIndex, type SpanMatch } from "./span-index.ts";

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
  if (N === 0) return { byRecord, spans };
  // Per call, no allocation per occurrence: the position→record table is built once per index,
  // and distinct holders are counted by stamping a per-call array (this runs on every call).
  const owners = recordOfPositions(index);
  const stamp = new Int32Array(N).fill(-1);
  const holders: number[] = [];
  const credit = (m: SpanMatch, query: ScoredSpan["query"], spanNo: number) => {
    const occurrences = m.hi - m.lo;
    if (occurrences > opts.maxOccurrences) {
      spans.push({ query, start: m.start, length: m.length, records: -1, weight: 0 });
      return;
    }
    holders.length = 0;
    for (let j = m.lo; j < m.hi; j++) {
      const r = owners[index.suffixArray[j]!]!;
      if (stamp[r] !== spanNo) {
        stamp[r] = spanNo;
        holders.push(r);
      }
    }
    const weight = m.length * Math.log((N + 1) / holders.length);
    spans.push({ query, start: m.start, length: m.length, records: holders.length, weight });
    for (const r of holders) {
      const s = byRecord.get(r) ?? { output: 0, context: 0 };
      if (query === "output") s.output += weight / holders.length;
      else s.context += weight / holders.length;
      byRecord.set(r, s);
    }
  };
  let spanNo = 0;
  for (const m of maximalMatches(index, output, opts.minSpanTokens)) credit(m, "output", spanNo++);
  // Only spans that start in the prompt and end in the output count here, so only prompt starts are searched.
  const joined = new Int32Array(prompt.length + output.length);
  for (let i = 0; i < prompt.length; i++) joined[i] = prompt[i]!;
  for (let i = 0; i < output.length; i++) joined[prompt.length + i] = output[i]!;
  for (const m of maximalMatches(index, joined, opts.minSpanTokens, prompt.length))
    if (m.start + m.length > prompt.length) credit(m, "prompt+output", spanNo++);
  return { byRecord, spans };
}
