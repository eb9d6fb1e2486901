// Kernel worker threads: a threaded call gives exactly the single-thread answer (each slice does
// the same arithmetic on its rows), and a worker that fails or dies makes its call throw a
// clear error instead of hanging, then is replaced.
import { afterAll, describe, expect, it } from "vitest";
import { addLoraDeltaStep, heapFloats, matmul, matmulBackward, planLoraStep, setThreads, threadCount } from "./index.ts";
import { AdapterSlots } from "./adapter-slots.ts";
import { KernelThreadError, setWaitHook } from "./threads.ts";
import { backward, createGrads, forwardTrain, paramList } from "../train-graph.ts";
import { createLora } from "../lora.ts";
import { createKvCache, createRunState, forward } from "../model.ts";
import { randArr, tinyConfig, tinyModel } from "../test-helpers.ts";

const f32 = (n: number, seed: number) => randArr(n, seed, Float32Array) as Float32Array;

async function threadsReady(n: number, timeoutMs?: number): Promise<void> {
  // every call big enough splits: these tests compare the threads' answers with one thread's
  setThreads(n, timeoutMs === undefined ? { split: "always" } : { timeoutMs, split: "always" });
  await threadCount().pool?.whenReady();
  expect(threadCount().ready).toBe(n);
}

describe("kernel worker threads", () => {
  afterAll(() => setThreads(1, { split: "auto" }));

  it("a training step on 2 threads equals the step on 1 thread exactly", async () => {
    // big enough that matmuls split by rows and attention by KV group
    const m = tinyModel(6, { dim: 64, nHeads: 4, nKvHeads: 2, hiddenDim: 96, maxSeqLen: 160, vocabSize: 40 }, 0.1);
    const ad = createLora(m.config, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj", "down_proj"] }, { seed: 7, randomB: true });
    const T = 150, tokens = Array.from({ length: T }, (_, i) => (i * 11) % 40), targets = tokens.map((_, i) => (i * 7) % 40);
    const starts = Int32Array.from({ length: T }, (_, t) => (t < 70 ? 0 : 70));
    const step = () => {
      const g = createGrads(m, ad, false);
      const { loss, tape } = forwardTrain(m, ad, tokens, targets, null, Float32Array, starts);
      backward(m, ad, tape, targets, g, 1);
      return { loss, grads: paramList(m, ad, g).map((p) => Array.from(p.grad)) };
    };
    setThreads(1);
    const one = step();
    await threadsReady(2);
    const two = step();
    expect(two.loss).toBe(one.loss);
    expect(two.grads).toEqual(one.grads);
  });

  it("matmul and both backward products split across threads equal one thread", async () => {
    const [T, n, d] = [96, 80, 70];
    const x = f32(T * n, 1), w = f32(d * n, 2), dy = f32(T * d, 3);
    const run = () => {
      const out = new Float32Array(T * d), dx = new Float32Array(T * n), dw = new Float32Array(d * n);
      matmul(out, x, w, T, n, d);
      matmulBackward(dx, dw, dy, x, w, T, n, d);
      return [out, dx, dw].map((a) => Array.from(a));
    };
    setThreads(1);
    const one = run();
    await threadsReady(2);
    expect(run()).toEqual(one);
  });

  it("a planned LoRA delta over many distinct adapters, split across threads by rows, equals one thread", async () => {
    const cfg = tinyConfig({ dim: 96, hiddenDim: 64, nLayers: 1 });
    const slots = new AdapterSlots({ capBytes: 8 << 20 });
    const ads = Array.from({ length: 64 }, (_, i) => createLora(cfg, { r: 8, alpha: 16, dropout: 0, targets: ["q_proj"] }, { seed: i, randomB: true }));
    for (const a of ads) expect(slots.place(a)).toBe(true);
    const B = 64, n = 96, x = f32(B * n, 4), base = f32(B * n, 5);
    const run = () => {
      const out = Float32Array.from(base);
      addLoraDeltaStep(planLoraStep(ads, 1, ["q_proj"])!, out, x, 0, "q_proj", n, n, new Float32Array(16));
      return Array.from(out);
    };
    setThreads(1);
    const one = run();
    await threadsReady(2);
    // the call really split: else this compares one thread with itself
    const pool = threadCount().pool!, runs: Array<[unknown, number]> = [], poolRun = pool.run.bind(pool);
    pool.run = (kernel, slices, local) => { runs.push([kernel, slices.length]); poolRun(kernel, slices, local); };
    try {
      expect(run()).toEqual(one);
    } finally {
      pool.run = poolRun;
    }
    expect(runs).toEqual([["lora_rows_t", 2]]);
    expect(one).not.toEqual(Array.from(base));
    for (const a of ads) slots.release(a);
  });

  it("a decode step over 64 distinct resident adapters, its LoRA deltas split by rows over 2 threads, equals the step on 1 thread exactly", async () => {
    const m = tinyModel(8, { dim: 96, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: 32, vocabSize: 64 }, 0.1);
    const slots = new AdapterSlots({ capBytes: 16 << 20 });
    const ads = Array.from({ length: 64 }, (_, i) => createLora(m.config, { r: 8, alpha: 16, dropout: 0, targets: ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] }, { seed: i, randomB: true }));
    for (const a of ads) expect(slots.place(a)).toBe(true);
    const step = () => {
      const s = createRunState(m.config, 64), rows = ads.map((a, b) => ({ token: (b * 5) % 64, pos: 0, kv: createKvCache(m.config), adapter: b % 9 === 4 ? null : a }));
      const out: number[][] = [];
      for (let pos = 0; pos < 3; pos++) out.push(Array.from(forward(m, rows.map((r) => ({ ...r, pos, token: (r.token + pos) % 64 })), s)));
      return out;
    };
    setThreads(1);
    const one = step();
    await threadsReady(2);
    // the deltas really split: else this compares one thread with itself
    const pool = threadCount().pool!, deltas: number[] = [], poolRun = pool.run.bind(pool);
    pool.run = (kernel, slices, local) => { if (kernel === "lora_rows_t") deltas.push(slices.length); poolRun(kernel, slices, local); };
    try {
      expect(step()).toEqual(one);
    } finally {
      pool.run = poolRun;
    }
    expect(deltas).toEqual(new Array(3 * m.config.nLayers * 4).fill(2)); // every layer's four groups of adapted projections (q and v, o, gate and up, down), each step
    expect(one[0]).not.toEqual(Array.from(forward(m, ads.map((_, b) => ({ token: (b * 5) % 64, pos: 0, kv: createKvCache(m.config), adapter: null })), createRunState(m.config, 64)))); // the adapters count
    setThreads(1);
    for (const a of ads) slots.release(a);
  });

  it("split: auto runs a kind of call that measured slower split on this thread alone after its first phase of splits, with the same bits; always splits each", async () => {
    const [T, n, d] = [40, 88, 200]; // a shape no other test here uses: the chooser knows nothing of it yet
    const x = heapFloats(T * n), w = heapFloats(d * n), out = heapFloats(T * d), want = new Float32Array(T * d);
    x.set(f32(T * n, 11));
    w.set(f32(d * n, 12));
    setThreads(1);
    matmul(want, x, w, T, n, d);
    await threadsReady(2);
    const pool = threadCount().pool!, poolRun = pool.run.bind(pool);
    let splits = 0;
    // a fork-join that costs 20 ms more than the call saves, whatever this machine does meanwhile:
    // the unsplit estimate is the first call alone (its time not capped), so a busy machine that
    // preempts that call for a few ms must not make splitting look faster; a chooser that picked
    // the slower way still fails below
    pool.run = (kernel, slices, local) => { splits++; poolRun(kernel, slices, local); for (const until = performance.now() + 20; performance.now() < until; ); };
    const calls = (mode: "auto" | "always", k: number) => {
      setThreads(2, { split: mode });
      splits = 0;
      for (let i = 0; i < k; i++) {
        out.fill(0);
        matmul(out, x, w, T, n, d);
        expect(Array.from(out)).toEqual(Array.from(want));
      }
      return splits;
    };
    try {
      // the first call unsplit, then a phase of 32 splits (split-chooser.ts), then unsplit (the next phase is 16 × 32 unsplit calls away)
      expect(calls("auto", 33)).toBe(32);
      expect(calls("auto", 64)).toBe(0);
      setThreads(1); // another thread count: what was measured with 2 slices is forgotten, so at 2 again the first call is unsplit and a phase follows
      expect(calls("auto", 2)).toBe(1);
      expect(calls("always", 4)).toBe(4);
    } finally {
      pool.run = poolRun;
      setThreads(2, { split: "always" });
    }
    expect(() => setThreads(2, { split: "sometimes" as "auto" })).toThrow(RangeError);
  });

  it("a worker that dies in the middle of a call fails that call with a clear error, and is replaced", async () => {
    await threadsReady(2, 300);
    const pool = threadCount().pool!;
    let local = 0;
    const t0 = performance.now();
    expect(() => pool.run(-1, [[], []], () => local++)).toThrow(KernelThreadError);
    expect(() => pool.run(-1, [[], []], () => {})).toThrow(/ready workers/); // not counted on while it is replaced
    expect(performance.now() - t0).toBeLessThan(5000); // failed, not hung
    expect(local).toBe(1); // this thread's own slice ran
    await pool.whenReady();
    expect(threadCount().ready).toBe(2); // a fresh worker took its place
    const [T, n, d] = [64, 96, 96], x = f32(T * n, 4), w = f32(d * n, 5);
    const got = new Float32Array(T * d), want = new Float32Array(T * d);
    matmul(got, x, w, T, n, d);
    setThreads(1);
    matmul(want, x, w, T, n, d);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it("a slice that traps in a worker fails the call with the worker's message", async () => {
    await threadsReady(2);
    const pool = threadCount().pool!;
    // a slice reading far outside the heap: the worker's wasm traps
    expect(() => pool.run("matmul", [[], [0, 0x7fff0000, 0, 1, 64, 64]], () => {})).toThrow(/worker 0 failed: .*out of bounds/i);
    const [T, n, d] = [64, 96, 96], x = f32(T * n, 6), w = f32(d * n, 7), out = new Float32Array(T * d);
    expect(() => matmul(out, x, w, T, n, d)).not.toThrow(); // the worker lives on
  });

  it("runs the wait hook while a worker's slice is still running, with done() turning true when it ends; a hook's error fails that call after the slices", async () => {
    // the whole matmul on the worker, nothing on this thread: its slice is still running when
    // this thread's (empty) one returns, unless this thread lost its core for all of it (a busy
    // machine): then the hook is rightly not called, and the call is made again
    const [T, n, d] = [384, 384, 384];
    const x = heapFloats(T * n), w = heapFloats(d * n), out = heapFloats(T * d), want = new Float32Array(T * d);
    x.set(f32(T * n, 8));
    w.set(f32(d * n, 9));
    setThreads(1);
    matmul(want, x, w, T, n, d);
    await threadsReady(2);
    const pool = threadCount().pool!;
    const args = [out.byteOffset, x.byteOffset, w.byteOffset, T, n, d];
    const hooked = (hook: (done: () => boolean) => void) => {
      let calls = 0, error: unknown = null;
      setWaitHook((done) => { calls++; hook(done); });
      for (let i = 0; i < 10 && calls === 0; i++) {
        out.fill(0);
        try {
          pool.run("matmul", [[], args], () => {});
        } catch (e) {
          error = e;
        }
      }
      expect(calls).toBe(1);
      return error;
    };
    const prev = setWaitHook(null);
    try {
      const seen: boolean[] = [];
      const error = hooked((done) => {
        seen.push(done());
        for (const until = performance.now() + 5000; !done() && performance.now() < until; );
        seen.push(done());
      });
      expect(error).toBeNull();
      expect(seen).toEqual([false, true]); // called while the slice ran, and told when it ended
      expect(Array.from(out)).toEqual(Array.from(want)); // the worker's slice was not disturbed
      expect(String(hooked(() => { throw new Error("hook failed"); }))).toBe("Error: hook failed");
      expect(Array.from(out)).toEqual(Array.from(want)); // thrown once the slice was done
      setWaitHook(null);
      expect(() => pool.run("matmul", [[], args], () => {})).not.toThrow(); // the pool works on
    } finally {
      setWaitHook(prev);
    }
  });

  it("the thread count must be a positive integer; 1 runs without workers", () => {
    expect(() => setThreads(0)).toThrow(RangeError);
    expect(() => setThreads(1.5)).toThrow(RangeError);
    setThreads(1);
    expect(threadCount()).toMatchObject({ configured: 1, ready: 1 }); // the workers sleep, unused
  });
});
