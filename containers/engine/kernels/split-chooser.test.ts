// The split-or-not choice: each way measured once, then the faster, with a look at the other
// every exploreEvery-th call; a preempted call moves the estimate by at most 4× of it.
import { describe, expect, it } from "vitest";
import { SplitChooser } from "./split-chooser.ts";

describe("SplitChooser", () => {
  it("measures unsplit first, then split, then runs the faster and looks at the other every exploreEvery-th call", () => {
    const c = new SplitChooser(4, 1);
    const picks: boolean[] = [];
    const run = (splitNs: number, wholeNs: number) => { const s = c.pick(7); picks.push(s); c.record(7, s, s ? splitNs : wholeNs); };
    for (let i = 0; i < 9; i++) run(3, 1); // splitting slower
    expect(picks).toEqual([false, true, false, true, false, false, false, true, false]); // calls 4 and 8 look at the split
    picks.length = 0;
    for (let i = 0; i < 4; i++) run(0.5, 1); // then the split got faster: seen at the next look, kept after
    expect(picks).toEqual([false, false, true, true]);
    expect(c.stat(7)).toMatchObject({ split: 0.5, whole: 1, calls: 13 });
    expect(c.stat(8)).toBeUndefined(); // kinds of call are apart
  });

  it("averages the times, a single slow call counting as at most 4× the estimate; bad times and options are refused", () => {
    const c = new SplitChooser(16, 0.5);
    c.record(1, false, 2);
    c.record(1, false, 1000); // preempted: counts as 8
    expect(c.stat(1)!.whole).toBe(5);
    c.record(1, false, NaN);
    c.record(1, false, -1);
    c.record(1, false, Infinity);
    expect(c.stat(1)!.whole).toBe(5);
    expect(Number.isNaN(c.stat(1)!.split)).toBe(true);
    c.clear();
    expect(c.stat(1)).toBeUndefined();
    expect(() => new SplitChooser(1)).toThrow(RangeError);
    expect(() => new SplitChooser(16, 0)).toThrow(RangeError);
  });
});
