// Whether a kernel call big enough to split across the kernel threads pays for its fork-join
// here and now. Waking a worker, waiting for its stamp and the cache lines the slices share
// cost a few to tens of µs, more when another process holds the other core, so where the
// crossover lies depends on the call's shape, the machine and its load at the time: on the
// committed 96-wide model at 64 rows, on the 2-core machine of docs/benchmarks.md's fifth round,
// no split matmul ran faster than the same call on one thread, at load 9 or at load 1.8 (the two
// threads did not run at once); a machine with idle cores may gain. So each kind of call (a
// kernel, its widths, its rows rounded to a power of two) keeps the wall time per unit of work
// it has measured split and unsplit, and runs the faster.
// Looking again at the slower way: unsplit, one call of that kind every `exploreEvery`-th;
// split, a phase of `phase` calls in a row in which every call splits, the first of them not
// counted. A worker that has slept through many unsplit calls wakes slowly (the OS parks an
// idle core), so a lone split call measures the wake-up, not the split: counted alone, splits
// measured 2–3× slower than they ran back to back. Both ways give the same bits (each slice
// does its rows' arithmetic as one thread would), so the choice only changes the time.

interface Stat {
  split: number; // wall ns per unit of work when split (NaN: not measured yet)
  whole: number; // the same unsplit
  calls: number;
}

/** The split-or-not choice per kind of call, from the wall times of earlier calls of that kind. */
export class SplitChooser {
  readonly exploreEvery: number;
  readonly phase: number;
  readonly alpha: number;
  #stats = new Map<number, Stat>();
  #phaseLeft = 0; // calls left in a phase in which every call splits
  #phaseFirst = false; // the next split call is a phase's first: not counted
  #sinceSplit = 0; // calls picked unsplit since the last phase, for a kind that prefers it

  /** exploreEvery: how often the slower way runs again (calls of a kind unsplit; calls of any kind preferring unsplit, between phases); phase: split calls in a row; alpha: the weight of each new time. */
  constructor(exploreEvery = 16, phase = 32, alpha = 0.25) {
    if (!Number.isInteger(exploreEvery) || exploreEvery < 2) throw new RangeError(`exploreEvery must be an integer ≥ 2, got ${exploreEvery}`);
    if (!Number.isInteger(phase) || phase < 2) throw new RangeError(`phase must be an integer ≥ 2, got ${phase}`);
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
    this.exploreEvery = exploreEvery;
    this.phase = phase;
    this.alpha = alpha;
  }

  #stat(key: number): Stat {
    let s = this.#stats.get(key);
    if (!s) this.#stats.set(key, (s = { split: NaN, whole: NaN, calls: 0 }));
    return s;
  }

  #startPhase(): boolean {
    this.#phaseLeft = this.phase - 1;
    this.#phaseFirst = true;
    this.#sinceSplit = 0;
    return true;
  }

  /** Whether this call of `key` should split. */
  pick(key: number): boolean {
    const s = this.#stat(key);
    s.calls++;
    if (this.#phaseLeft > 0) { this.#phaseLeft--; return true; }
    if (Number.isNaN(s.whole)) return false; // unsplit first: it needs no worker
    if (Number.isNaN(s.split)) return this.#startPhase();
    if (s.split < s.whole) return s.calls % this.exploreEvery !== 0; // split, but for a look at unsplit
    // unsplit; a phase of splits once every exploreEvery × phase calls that chose unsplit
    return ++this.#sinceSplit >= this.exploreEvery * this.phase ? this.#startPhase() : false;
  }

  /** A call of `key` took `perUnit` (wall time per unit of work), split or not. */
  record(key: number, split: boolean, perUnit: number): void {
    if (split && this.#phaseFirst) { this.#phaseFirst = false; return; } // the worker's wake-up
    if (!(perUnit > 0) || !Number.isFinite(perUnit)) return; // not ≤ 0 (a clock too coarse for the call): the cap below would pin an estimate of 0 for good
    const s = this.#stat(key);
    const cur = split ? s.split : s.whole;
    // a moving average; one call the OS preempted counts as at most 4× the estimate
    const next = Number.isNaN(cur) ? perUnit : cur + this.alpha * (Math.min(perUnit, 4 * cur) - cur);
    if (split) s.split = next;
    else s.whole = next;
  }

  /** What is known of `key`: wall time per unit split and unsplit (NaN: not measured), calls picked. */
  stat(key: number): Readonly<Stat> | undefined {
    return this.#stats.get(key);
  }

  /** Forget every measurement. */
  clear(): void {
    this.#stats.clear();
    this.#phaseLeft = 0;
    this.#phaseFirst = false;
    this.#sinceSplit = 0;
  }
}
