// Summaries for the benchmarks: every figure is a median over rounds with its min–max, and
// every ratio is taken between medians of the same run.

export interface Summary {
  median: number;
  min: number;
  max: number;
  rounds: number;
}

/** Median (mean of the middle two for an even count), min and max of the rounds. */
export function summarize(xs: number[]): Summary {
  if (xs.length === 0) throw new RangeError("no rounds to summarize");
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)!, rounds: s.length };
}

/** "1,234 (1,100–1,300)" with the given fraction digits. */
export function fmtSummary(s: Summary, digits = 0): string {
  return `${fmtNum(s.median, digits)} (${fmtNum(s.min, digits)}–${fmtNum(s.max, digits)})`;
}

export function fmtNum(x: number, digits = 0): string {
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
