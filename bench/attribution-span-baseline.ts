// The span scoring as it was before its per-call allocations were cut (commit d6245a6's
// core/attribution/span-attribution.ts and span-index.ts: a [lo, hi] tuple per narrowing step,
// a SpanMatch list, a fresh stamp array and prompt+output copy per call). Kept only so
// `SPAN_LATENCY=1 npm run bench:attribution` can time both on the same calls in one run; the
// benchmark checks that both give the same scores.
import { recordOfPositions, type SpanIndex, type SpanMatch, type SpanOptions, type SpanScores, DEFAULT_SPAN_OPTIONS, type ScoredSpan } from "../core/attribution/index.ts";
import { narrow } from "../core/attribution/suffix-array.ts";

function maximalMatchesBaseline(index: SpanIndex, query: ArrayLike<number>, minLength: number, startsBelow = query.length): SpanMatch[] {
  const out: SpanMatch[] = [];
  let prevEnd = 0;
  for (let i = 0; i < Math.min(startsBelow, query.length); i++) {
    let lo = 0, hi = index.suffixArray.length, len = 0;
    while (i + len < query.length) {
      const t = query[i + len]!;
      if (t < 0) break;
      const [a, b] = narrow(index.tokens, index.suffixArray, lo, hi, len, t);
      if (a === b) break;
      lo = a;
      hi = b;
      len++;
    }
    const end = i + len;
    if (end > prevEnd && len >= minLength) out.push({ start: i, length: len, lo, hi });
    if (end > prevEnd) prevEnd = end;
  }
  return out;
}

export function scoreSpansBaseline(index: SpanIndex, prompt: ArrayLike<number>, output: ArrayLike<number>, options: Partial<SpanOptions> = {}): SpanScores {
  const opts = { ...DEFAULT_SPAN_OPTIONS, ...options };
  const byRecord = new Map<number, { output: number; context: number }>();
  const spans: ScoredSpan[] = [];
  const N = index.records.length;
  if (N === 0) return { byRecord, spans };
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
  for (const m of maximalMatchesBaseline(index, output, opts.minSpanTokens)) credit(m, "output", spanNo++);
  const joined = new Int32Array(prompt.length + output.length);
  for (let i = 0; i < prompt.length; i++) joined[i] = prompt[i]!;
  for (let i = 0; i < output.length; i++) joined[prompt.length + i] = output[i]!;
  for (const m of maximalMatchesBaseline(index, joined, opts.minSpanTokens, prompt.length))
    if (m.start + m.length > prompt.length) credit(m, "prompt+output", spanNo++);
  return { byRecord, spans };
}
