// Whether a kernel call big enough to split across the kernel threads pays for its fork-join
// here and now. Waking a worker, waiting for its stamp and the cache lines the slices share
// cost a few to tens of µs, more when another process holds the other core, so where the
// crossover lies depends on the call's shape and on the machine's load at the time: on the
// committed 96-wide model at 64 rows, splitting every matmul made 64 streams slower at 2
// threads than at 1 (docs/benchmarks.md, the fifth round). So each kind of call (a kernel, its
// widths, its rows rounded to a power of two) keeps the wall time per unit of work it has
// measured split and unsplit, runs the faster, and every `exploreEvery`-th call runs the other,
// so a change of load or of shape is noticed. Both give the same bits (each slice does its
// rows' arithmetic as one thread would), so the choice only changes the time.

interface Stat {
  split: number; // wall ns per unit of work when split (NaN: not measured yet)
  whole: number; // the same unsplit
  calls: number;
}

/** The split-or-not choice per kind of call, from the wall times of earlier calls of that kind. */
export class SplitChooser {
  readonly exploreEvery: number;
  readonly alpha: number;
  #stats = new Map<number, Stat>();

  /** exploreEvery: how often the slower choice runs again; alpha: the weight of each new time. */
  constructor(exploreEvery = 16, alpha = 0.25) {
    if (!Number.isInteger(exploreEvery) || exploreEvery < 2) throw new RangeError(`exploreEvery must be an integer ≥ 2, got ${exploreEvery}`);
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
    this.exploreEvery = exploreEvery;
    this.alpha = alpha;
  }

  /** Whether this call of `key` should split: first one of each way, then the faster but every exploreEvery-th. */
  pick(key: number): boolean {
    let s = this.#stats.get(key);
    if (!s) this.#stats.set(key, (s = { split: NaN, whole: NaN, calls: 0 }));
    s.calls++;
    if (Number.isNaN(s.whole)) return false;
    if (Number.isNaN(s.split)) return true;
    const faster = s.split < s.whole;
    return s.calls % this.exploreEvery === 0 ? !faster : faster;
  }

  /** A call of `key` took `perUnit` (wall time per unit of work), split or not. */
  record(key: number, split: boolean, perUnit: number): void {
    if (!(perUnit >= 0) || !Number.isFinite(perUnit)) return;
    let s = this.#stats.get(key);
    if (!s) this.#stats.set(key, (s = { split: NaN, whole: NaN, calls: 0 }));
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
  }
}
