// The span index: every training record's token ids in one stream (each record followed by
// −1), a suffix array over it, and where each record starts, so any position maps to the
// contribution it came from (infini-gram's layout, small enough to load with the adapter).
// Built by the trainer at the end of training; queried after every generation.
import { AttributionIndexError } from "./errors.ts";
import { buildSuffixArray, firstWithNextAbove, firstWithNextAtLeast, isSuffixArrayOf } from "./suffix-array.ts";

/** Format name written into the index file; a reader refuses any other. */
export const SPAN_INDEX_FORMAT = "mf-span-index/1";

/** Who a training record belongs to. */
export interface IndexedRecord {
  contributionId: string;
  datanetId: string;
  version: number;
  contributor: string;
}

export interface SpanIndex {
  tokens: Int32Array; // (n) record token ids, each record followed by −1
  suffixArray: Int32Array; // (n) suffix start positions in sorted order
  recordStarts: Int32Array; // (records) offset of each record's first token, ascending
  records: IndexedRecord[]; // (records) owner of each record, same order
}

/**
 * Builds the index over training records (token ids as the model's tokenizer gives them).
 * Example: buildSpanIndex([{ tokens: [5, 6, 7], record }]).tokens → [5, 6, 7, −1]
 */
export function buildSpanIndex(records: ReadonlyArray<{ tokens: ArrayLike<number>; record: IndexedRecord }>): SpanIndex {
  const n = records.reduce((s, r) => s + r.tokens.length + 1, 0);
  const tokens = new Int32Array(n), recordStarts = new Int32Array(records.length);
  let p = 0;
  records.forEach((r, i) => {
    recordStarts[i] = p;
    for (let j = 0; j < r.tokens.length; j++) {
      const t = r.tokens[j]!;
      if (!Number.isInteger(t) || t < 0) throw new RangeError(`record ${r.record.contributionId}: token ${t} is not a non-negative integer`);
      tokens[p++] = t;
    }
    tokens[p++] = -1;
  });
  return { tokens, suffixArray: buildSuffixArray(tokens), recordStarts, records: records.map((r) => ({ ...r.record })) };
}

/**
 * Checks a loaded index before it is trusted: shapes, ids in the vocabulary, record starts,
 * and that the suffix array is a sorted permutation (a file cut short or edited fails here).
 * Throws AttributionIndexError naming `file` and what is wrong.
 */
export function checkSpanIndex(index: SpanIndex, vocabSize: number, file = "span index"): SpanIndex {
  const { tokens, suffixArray, recordStarts, records } = index;
  const fail = (m: string) => {
    throw new AttributionIndexError(file, m);
  };
  if (records.length !== recordStarts.length) fail(`${records.length} records but ${recordStarts.length} record starts`);
  if (suffixArray.length !== tokens.length) fail(`${tokens.length} tokens but a suffix array of ${suffixArray.length}`);
  for (let i = 0; i < tokens.length; i++) if (tokens[i]! < -1 || tokens[i]! >= vocabSize) fail(`token ${tokens[i]} at ${i} is outside the vocabulary of ${vocabSize}`);
  if (tokens.length > 0 && tokens[tokens.length - 1] !== -1) fail("the token stream does not end a record");
  let separators = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === -1) separators++;
  if (separators !== records.length) fail(`${separators} record ends for ${records.length} records`);
  for (let r = 0; r < recordStarts.length; r++) {
    const s = recordStarts[r]!;
    const ok = r === 0 ? s === 0 : s > recordStarts[r - 1]! && s < tokens.length && tokens[s - 1] === -1;
    if (!ok) fail(`record ${r} does not start at 0 or right after a record end`);
  }
  for (const [i, rec] of records.entries())
    if (!rec || typeof rec.contributionId !== "string" || typeof rec.datanetId !== "string" || typeof rec.contributor !== "string" || !Number.isInteger(rec.version))
      fail(`record ${i} lacks contributionId, datanetId, version or contributor`);
  if (!isSuffixArrayOf(tokens, suffixArray)) fail("the suffix array is not the sorted suffixes of the token stream");
  return index;
}

/**
 * The record of every stream position (n numbers), built once per index and kept while the
 * index lives: scoring a span then costs one array read per occurrence instead of a search.
 */
export function recordOfPositions(index: SpanIndex): Int32Array {
  let owners = positionOwners.get(index);
  if (!owners) {
    owners = new Int32Array(index.tokens.length);
    for (let r = 0; r < index.recordStarts.length; r++) owners.fill(r, index.recordStarts[r]!, r + 1 < index.recordStarts.length ? index.recordStarts[r + 1]! : index.tokens.length);
    positionOwners.set(index, owners);
  }
  return owners;
}
const positionOwners = new WeakMap<SpanIndex, Int32Array>();

/** Index of the record holding stream position `pos` (binary search over record starts). */
export function recordAt(index: SpanIndex, pos: number): number {
  let lo = 0, hi = index.recordStarts.length - 1;
  while (lo < hi) {
    const m = (lo + hi + 1) >>> 1;
    if (index.recordStarts[m]! <= pos) lo = m;
    else hi = m - 1;
  }
  return lo;
}

/** A verbatim match: query[start, start+length) occurs in the suffixes [lo, hi) of the index. */
export interface SpanMatch {
  start: number;
  length: number;
  lo: number;
  hi: number;
}

/**
 * For each query position, the longest prefix of query[i..] found verbatim in one training
 * record (matching statistics), keeping only maximal spans (not inside the span that starts
 * one token earlier) of at least `minLength` tokens, starting before `startsBelow`.
 */
export function maximalMatches(index: SpanIndex, query: ArrayLike<number>, minLength: number, startsBelow = query.length): SpanMatch[] {
  const out: SpanMatch[] = [];
  forEachMaximalMatch(index, query, query.length, minLength, startsBelow, (start, length, lo, hi) => out.push({ start, length, lo, hi }));
  return out;
}

/**
 * maximalMatches without building its list: `visit` gets each match's fields as arguments, in
 * start order. Only query[0, queryLength) is read, so a caller may pass a longer scratch buffer.
 * Allocates nothing (it runs on every call).
 */
export function forEachMaximalMatch(
  index: SpanIndex, query: ArrayLike<number>, queryLength: number, minLength: number, startsBelow: number,
  visit: (start: number, length: number, lo: number, hi: number) => void,
): void {
  const { tokens, suffixArray } = index;
  let prevEnd = 0;
  // Spans are found in start order and maximality only looks back, so stopping at startsBelow
  // gives exactly the full answer's spans that start there (the prompt+output query needs no more).
  for (let i = 0; i < Math.min(startsBelow, queryLength); i++) {
    let lo = 0, hi = suffixArray.length, len = 0;
    while (i + len < queryLength) {
      const t = query[i + len]!;
      if (t < 0) break; // −1 ends records in the index; never let a query match across one
      const a = firstWithNextAtLeast(tokens, suffixArray, lo, hi, len, t);
      const b = firstWithNextAbove(tokens, suffixArray, a, hi, len, t);
      if (a === b) break;
      lo = a;
      hi = b;
      len++;
    }
    const end = i + len;
    if (end > prevEnd && len >= minLength) visit(i, len, lo, hi);
    if (end > prevEnd) prevEnd = end;
  }
}
