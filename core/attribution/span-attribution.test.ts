import { describe, expect, it } from "vitest";
import { Rng } from "../../containers/engine/rng.ts";
import { scoreSpans, type SpanScores } from "./span-attribution.ts";
import { buildSpanIndex, type IndexedRecord } from "./span-index.ts";

const rec = (i: number): IndexedRecord => ({ contributionId: `ct_${i}`, datanetId: "dn_1", version: 1, contributor: `0x${i}` });

/** The scoring rule of docs/attribution.md ("Spans"), by brute force over the records' token lists. */
function reference(records: number[][], prompt: number[], output: number[], minLength: number, maxOccurrences: number): SpanScores {
  const N = records.length;
  const byRecord = new Map<number, { output: number; context: number }>();
  const spans: SpanScores["spans"] = [];
  const occurrences = (q: number[]) => {
    const holders = new Set<number>();
    let count = 0;
    records.forEach((r, ri) => {
      for (let p = 0; p + q.length <= r.length; p++)
        if (q.every((t, k) => r[p + k] === t)) {
          count++;
          holders.add(ri);
        }
    });
    return { count, holders: [...holders].sort((a, b) => a - b) };
  };
  const run = (query: number[], kind: "output" | "prompt+output", startsBelow: number, keep: (s: number, l: number) => boolean) => {
    let prevEnd = 0;
    for (let i = 0; i < Math.min(startsBelow, query.length); i++) {
      let len = 0;
      while (i + len < query.length && query[i + len]! >= 0 && occurrences(query.slice(i, i + len + 1)).count > 0) len++;
      const end = i + len;
      if (end > prevEnd && len >= minLength && keep(i, len)) {
        const o = occurrences(query.slice(i, i + len));
        if (o.count > maxOccurrences) spans.push({ query: kind, start: i, length: len, records: -1, weight: 0 });
        else {
          const weight = len * Math.log((N + 1) / o.holders.length);
          spans.push({ query: kind, start: i, length: len, records: o.holders.length, weight });
          for (const r of o.holders) {
            const s = byRecord.get(r) ?? { output: 0, context: 0 };
            if (kind === "output") s.output += weight / o.holders.length;
            else s.context += weight / o.holders.length;
            byRecord.set(r, s);
          }
        }
      }
      if (end > prevEnd) prevEnd = end;
    }
  };
  run(output, "output", output.length, () => true);
  run([...prompt, ...output], "prompt+output", prompt.length, (s, l) => s + l > prompt.length);
  return { byRecord, spans };
}

const sorted = (m: SpanScores["byRecord"]) => [...m].sort((a, b) => a[0] - b[0]);

describe("scoreSpans", () => {
  it("gives the brute-force scores on random records and calls, with its buffers reused across calls and indexes", () => {
    // Prepare: two indexes over a small alphabet (so spans repeat across records), calls alternating between them.
    const rng = new Rng(42);
    const draw = (n: number, v: number) => Array.from({ length: n }, () => Math.floor(rng.next() * v));
    const sets = [0, 1].map(() => Array.from({ length: 12 + Math.floor(rng.next() * 10) }, () => draw(3 + Math.floor(rng.next() * 20), 6)));
    const indexes = sets.map((rs) => buildSpanIndex(rs.map((tokens, i) => ({ tokens, record: rec(i) }))));

    for (let call = 0; call < 60; call++) {
      const which = call % 2, records = sets[which]!;
      // Outputs often copy a piece of a record, as a trained adapter's do; prompts sometimes end with one.
      const src = records[Math.floor(rng.next() * records.length)]!;
      const output = rng.next() < 0.6 ? [...src.slice(Math.floor(rng.next() * src.length)), ...draw(Math.floor(rng.next() * 5), 6)] : draw(1 + Math.floor(rng.next() * 15), 6);
      const prompt = rng.next() < 0.5 ? src.slice(0, Math.floor(rng.next() * src.length)) : draw(Math.floor(rng.next() * 1500), 6); // long prompts outgrow the reused buffer
      const minLength = 1 + Math.floor(rng.next() * 4), maxOccurrences = rng.next() < 0.3 ? 3 : 1000;

      // Act
      const got = scoreSpans(indexes[which]!, prompt, output, { minSpanTokens: minLength, maxOccurrences });

      // Assess
      const want = reference(records, prompt, output, minLength, maxOccurrences);
      expect(got.spans.map((s) => ({ ...s, weight: Number(s.weight.toFixed(9)) }))).toEqual(want.spans.map((s) => ({ ...s, weight: Number(s.weight.toFixed(9)) })));
      expect(sorted(got.byRecord).map(([r, s]) => [r, s.output.toFixed(9), s.context.toFixed(9)])).toEqual(sorted(want.byRecord).map(([r, s]) => [r, s.output.toFixed(9), s.context.toFixed(9)]));
    }
  });

  it("never lets a match run across the end of a record", () => {
    const ix = buildSpanIndex([{ tokens: [1, 2, 3], record: rec(0) }, { tokens: [4, 5, 6], record: rec(1) }]);
    const s = scoreSpans(ix, [], [1, 2, 3, 4, 5, 6], { minSpanTokens: 3 });
    expect(s.spans.map((x) => [x.start, x.length])).toEqual([[0, 3], [3, 3]]);
  });
});
