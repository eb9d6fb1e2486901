// Span attribution: which training records hold the longest, rarest verbatim spans of a
// call's output. Two queries are scored apart: the output alone, and prompt+output (only
// spans that cross from the prompt into the output count there, so a span is never counted
// twice and a prompt that merely quotes a record earns that record nothing).
import { forEachMaximalMatch, recordOfPositions, type SpanIndex } from "./span-index.ts";

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
  // This runs on every call, so its garbage is what shows in the latency's tail (a young-
  // generation collection lands on some call). Nothing is allocated per token or occurrence:
  // the position→record table and a stamp array live with the index, distinct holders are
  // counted by stamping it with a per-span number, and the prompt+output query is copied into
  // a buffer reused across calls. What is left is one entry per maximal span and per record.
  const owners = recordOfPositions(index);
  const scratch = scratchOf(index);
  const credit = (query: ScoredSpan["query"], start: number, length: number, lo: number, hi: number) => {
    if (hi - lo > opts.maxOccurrences) {
      spans.push({ query, start, length, records: -1, weight: 0 });
      return;
    }
    const mark = nextMark(scratch);
    let holders = 0;
    for (let j = lo; j < hi; j++) {
      const r = owners[index.suffixArray[j]!]!;
      if (scratch.stamp[r] !== mark) {
        scratch.stamp[r] = mark;
        scratch.holders[holders++] = r;
      }
    }
    const weight = length * Math.log((N + 1) / holders);
    spans.push({ query, start, length, records: holders, weight });
    for (let h = 0; h < holders; h++) {
      const r = scratch.holders[h]!;
      let s = byRecord.get(r);
      if (!s) byRecord.set(r, (s = { output: 0, context: 0 }));
      if (query === "output") s.output += weight / holders;
      else s.context += weight / holders;
    }
  };
  forEachMaximalMatch(index, output, output.length, opts.minSpanTokens, output.length, (start, length, lo, hi) => credit("output", start, length, lo, hi));
  // Only spans that start in the prompt and end in the output count here, so only prompt starts are searched.
  const n = prompt.length + output.length;
  if (joined.length < n) joined = new Int32Array(Math.max(n, 2 * joined.length));
  for (let i = 0; i < prompt.length; i++) joined[i] = prompt[i]!;
  for (let i = 0; i < output.length; i++) joined[prompt.length + i] = output[i]!;
  forEachMaximalMatch(index, joined, n, opts.minSpanTokens, prompt.length, (start, length, lo, hi) => {
    if (start + length > prompt.length) credit("prompt+output", start, length, lo, hi);
  });
  return { byRecord, spans };
}

/** Per index, kept while it lives: stamp[r] = the last span that counted record r; holders: that span's distinct records. */
interface SpanScratch {
  stamp: Int32Array; // (records)
  holders: Int32Array; // (records)
  mark: number;
}
const scratches = new WeakMap<SpanIndex, SpanScratch>();
function scratchOf(index: SpanIndex): SpanScratch {
  let s = scratches.get(index);
  if (!s) scratches.set(index, (s = { stamp: new Int32Array(index.records.length), holders: new Int32Array(index.records.length), mark: 0 }));
  return s;
}
/** A span number never stamped before on this index (the stamps restart from zero before the counter overflows). */
function nextMark(s: SpanScratch): number {
  if (s.mark >= 0x7fff_fff0) {
    s.stamp.fill(0);
    s.mark = 0;
  }
  return ++s.mark;
}
/** The prompt+output query, reused across calls (scoring is synchronous, so one buffer suffices). */
let joined = new Int32Array(1024);
