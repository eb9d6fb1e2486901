// A suffix array over a token stream by prefix doubling with counting sorts (O(n log n)),
// and the one primitive the span index needs from it: narrowing the range of suffixes that
// start with a pattern by one more token. Tokens are integers ≥ −1; −1 ends a record.

/**
 * Start positions of every suffix of `text`, sorted lexicographically (a shorter suffix sorts
 * before its extensions). Example: buildSuffixArray([2, 1, 2]) → [1, 2, 0] (suffixes 1 2 | 2 | 2 1 2).
 */
export function buildSuffixArray(text: Int32Array): Int32Array {
  const n = text.length;
  const sa = new Int32Array(n);
  if (n === 0) return sa;
  // Ranks start as the tokens themselves, shifted so −1 (end of record) is 0.
  let rank = new Int32Array(n), next = new Int32Array(n);
  let classes = 0;
  for (let i = 0; i < n; i++) {
    rank[i] = text[i]! + 1;
    if (rank[i]! < 0) throw new RangeError(`token ${text[i]} at ${i} is below −1`);
    if (rank[i]! + 1 > classes) classes = rank[i]! + 1;
  }
  countingSort(sa, identity(n), rank, classes);
  const tmp = new Int32Array(n);
  for (let k = 1; ; k <<= 1) {
    // Order by the second key (rank at i+k, missing = smallest) first, then stably by the first.
    let p = 0;
    for (let i = n - k; i < n; i++) if (i >= 0) tmp[p++] = i;
    for (let j = 0; j < n; j++) if (sa[j]! >= k) tmp[p++] = sa[j]! - k;
    countingSort(sa, tmp, rank, classes);
    next[sa[0]!] = 0;
    classes = 1;
    for (let j = 1; j < n; j++) {
      const a = sa[j - 1]!, b = sa[j]!;
      const ra2 = a + k < n ? rank[a + k]! : -1, rb2 = b + k < n ? rank[b + k]! : -1;
      if (rank[a] !== rank[b] || ra2 !== rb2) classes++;
      next[b] = classes - 1;
    }
    [rank, next] = [next, rank];
    if (classes === n || k >= n) break;
  }
  return sa;
}

function identity(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Stable counting sort of `items` by `key[item]` (keys in 0..classes−1) into `out`. */
function countingSort(out: Int32Array, items: Int32Array, key: Int32Array, classes: number): void {
  const count = new Int32Array(classes + 1);
  for (let i = 0; i < items.length; i++) count[key[items[i]!]! + 1]!++;
  for (let c = 1; c <= classes; c++) count[c]! += count[c - 1]!;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    out[count[key[it]!]!++] = it;
  }
}

/**
 * Given the range [lo, hi) of suffixes that start with some pattern of length `depth`, the
 * range of those whose next token is `token` (empty when lo === hi). Token −2 never matches.
 */
export function narrow(text: Int32Array, sa: Int32Array, lo: number, hi: number, depth: number, token: number): [number, number] {
  const start = firstWithNextAtLeast(text, sa, lo, hi, depth, token);
  return [start, firstWithNextAbove(text, sa, start, hi, depth, token)];
}

// narrow's two halves, returning plain numbers: the span search calls them once per query
// token per match step, on every call, so they must not allocate (a tuple each time did).
/** First j in [lo, hi) whose suffix's token at `depth` is ≥ `token` (a suffix that ends there reads −2). */
export function firstWithNextAtLeast(text: Int32Array, sa: Int32Array, lo: number, hi: number, depth: number, token: number): number {
  const n = text.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1, p = sa[m]! + depth;
    if ((p < n ? text[p]! : -2) < token) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** First j in [lo, hi) whose suffix's token at `depth` is > `token`. */
export function firstWithNextAbove(text: Int32Array, sa: Int32Array, lo: number, hi: number, depth: number, token: number): number {
  const n = text.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1, p = sa[m]! + depth;
    if ((p < n ? text[p]! : -2) <= token) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** True when `sa` lists every suffix of `text` once, in sorted order (what a loaded index must be). */
export function isSuffixArrayOf(text: Int32Array, sa: Int32Array): boolean {
  const n = text.length;
  if (sa.length !== n) return false;
  const seen = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const p = sa[j]!;
    if (p < 0 || p >= n || seen[p]) return false;
    seen[p] = 1;
  }
  for (let j = 1; j < n; j++) if (compareSuffixes(text, sa[j - 1]!, sa[j]!) >= 0) return false;
  return true;
}

function compareSuffixes(text: Int32Array, a: number, b: number): number {
  const n = text.length;
  while (a < n && b < n) {
    const d = text[a]! - text[b]!;
    if (d !== 0) return d;
    a++;
    b++;
  }
  return a < n ? 1 : b < n ? -1 : 0; // the shorter suffix (the one that ran out) sorts first
}
