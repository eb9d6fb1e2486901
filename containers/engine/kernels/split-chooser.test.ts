// The split-or-not choice: unsplit measured first, then a phase of split calls (its first not
// counted: a worker's wake-up), then the faster; unsplit looked at again every exploreEvery-th
// call of a kind, split in a phase once every exploreEvery × phase calls that chose unsplit.
import { describe, expect, it } from "vitest";
import { SplitChooser } from "./split-chooser.ts";

describe("SplitChooser", () => {
  it("measures unsplit first, then a phase of splits, then runs the faster and looks at the other way now and then", () => {
    const c = new SplitChooser(4, 3, 1);
    const picks: boolean[] = [];
    const run = (key: number, splitNs: number, wholeNs: number) => { const s = c.pick(key); picks.push(s); c.record(key, s, s ? splitNs : wholeNs); };
    for (let i = 0; i < 20; i++) run(7, 3, 1); // splitting slower
    const F = false, T = true;
    // 1: unsplit; 2–4: a phase (2 is not counted); 5–15 unsplit; the 12th unsplit pick (16) starts a phase: 16–18; then unsplit
    expect(picks).toEqual([F, T, T, T, F, F, F, F, F, F, F, F, F, F, F, T, T, T, F, F]);
    expect(c.stat(7)).toMatchObject({ split: 3, whole: 1, calls: 20 });
    picks.length = 0;
    for (let i = 0; i < 16; i++) run(7, 0.5, 1); // the split got faster: seen in the next phase (calls 30–32), kept after but for unsplit every 4th call (36)
    expect(picks).toEqual([F, F, F, F, F, F, F, F, F, T, T, T, T, T, T, F]);
    expect(c.stat(7)!.split).toBe(0.5);
    const d = new SplitChooser(4, 3, 1);
    d.record(1, false, 1);
    expect(d.pick(1)).toBe(true); // a phase starts
    d.record(1, true, 99); // its first call: the worker's wake-up, not counted
    expect(Number.isNaN(d.stat(1)!.split)).toBe(true);
    d.record(1, true, 2);
    expect(d.stat(1)!.split).toBe(2);
    expect(c.stat(8)).toBeUndefined(); // kinds of call are apart
  });

  it("averages the times, a single slow call counting as at most 4× the estimate; bad times (≤ 0 included) and options are refused", () => {
    const c = new SplitChooser(16, 32, 0.5);
    c.record(1, false, 2);
    c.record(1, false, 1000); // preempted: counts as 8
    expect(c.stat(1)!.whole).toBe(5);
    c.record(1, false, NaN);
    c.record(1, false, -1);
    c.record(1, false, Infinity);
    c.record(1, false, 0);
    expect(c.stat(1)!.whole).toBe(5);
    c.record(2, true, 0); // a time of 0 (the clock's step) is no time: it would cap every later one at 4 × 0
    expect(c.stat(2)).toBeUndefined();
    c.record(2, true, 3);
    expect(c.stat(2)!.split).toBe(3);
    expect(Number.isNaN(c.stat(1)!.split)).toBe(true);
    c.clear();
    expect(c.stat(1)).toBeUndefined();
    expect(() => new SplitChooser(1)).toThrow(RangeError);
    expect(() => new SplitChooser(16, 1)).toThrow(RangeError);
    expect(() => new SplitChooser(16, 32, 0)).toThrow(RangeError);
  });
});
