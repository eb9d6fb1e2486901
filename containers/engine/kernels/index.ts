// The fast path of the engine's hot loops: the WASM SIMD kernels of kernels.wat, behind the
// same signatures as their readable references in ops.ts. Every call checks what it is given
// and runs the reference instead when a kernel cannot take it (fp64 arrays: the gradient
// checks; no WASM SIMD in this runtime; ENGINE_KERNELS=ts), so the answer never depends on
// which path ran beyond fp32 summation order.
//
// Memory: the kernels work on one shared WebAssembly memory (the heap). Model weights placed
// there once (placeWeights, done by the checkpoint loaders) are used where they lie; every
// other argument is copied into per-call scratch above them and results copied back. The
// memory is shared so that growing it never detaches the views handed out earlier.
// NOTE: placed weights are never freed (a bump allocator): they live as long as the process or
// worker thread that loaded them, which is how the trainer and the serving process use a model.
// Each worker thread has its own heap.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { controlInts, KernelPool, type KernelName } from "./threads.ts";
import * as ref from "../ops.ts";
import type { Arr } from "../ops.ts";
import type { Config, Weights } from "../model.ts";
import * as lora from "../lora.ts";
import { TARGETS, type LoraAdapter, type LoraPair, type Target } from "../lora.ts";
import { instantiateLoraKernel, LORA_KERNEL_WASM, packA, packBt, type LoraKernel } from "./lora-kernel.ts";
import { SplitChooser } from "./split-chooser.ts";

interface KernelExports {
  matmul(out: number, x: number, w: number, T: number, n: number, d: number): void;
  matmul_dx(dx: number, dy: number, w: number, T: number, n: number, d: number): void;
  matmul_dw(dw: number, dy: number, x: number, T: number, n: number, d: number, i0: number, i1: number): void;
  attend(out: number, q: number, k: number, v: number, scores: number, pos: number, nH: number, nKv: number, hd: number): void;
  lora_rows(out: number, x: number, table: number, rows: number, n: number, d: number, mid: number): void;
  attn_fwd(out: number, probs: number, q: number, k: number, v: number, starts: number, hasStarts: number, work: number, T: number, nH: number, nKv: number, hd: number, h0: number, h1: number): void;
  attn_bwd(dq: number, dk: number, dv: number, dout: number, probs: number, q: number, k: number, v: number, starts: number, hasStarts: number, work: number, T: number, nH: number, nKv: number, hd: number, h0: number, h1: number): void;
  fill_zero(p: number, bytes: number): void;
  rmsnorm(out: number, x: number, w: number, T: number, n: number, eps: number): void;
  rmsnorm_bwd(dx: number, dw: number, hasDw: number, dy: number, x: number, w: number, T: number, n: number, eps: number): void;
  swiglu(out: number, gate: number, up: number, n: number): void;
  swiglu_bwd(dgate: number, dup: number, dout: number, gate: number, up: number, n: number): void;
  cross_entropy(dl: number, hasDl: number, logits: number, targets: number, T: number, V: number, c: number): number;
  add_scaled(y: number, x: number, a: number, n: number): void;
}

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the most a wasm32 memory can address

class Heap {
  readonly memory: WebAssembly.Memory;
  readonly kernels: KernelExports;
  #buffers = new Set<ArrayBufferLike>();
  #f32: Float32Array;
  #placed = 0; // bytes of weights placed for good, from 0
  #scratch = 0; // bytes of per-call scratch in use, above #placed

  readonly wasm: Uint8Array<ArrayBuffer>;

  constructor(bytes: Uint8Array<ArrayBuffer>) {
    this.wasm = bytes;
    this.memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: this.memory, log: Math.log } });
    this.kernels = instance.exports as unknown as KernelExports;
    this.#f32 = this.#refresh();
  }

  #i32!: Int32Array;

  #refresh(): Float32Array {
    // one view of each kind per growth (views made before a growth stay valid: the memory is shared)
    const buffer = this.memory.buffer;
    this.#buffers.add(buffer);
    this.#i32 = new Int32Array(buffer);
    return (this.#f32 = new Float32Array(buffer));
  }

  #ensure(bytes: number): void {
    const have = this.#f32.byteLength; // the view of the last growth spans the whole memory (reading memory.buffer costs more)
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) throw new RangeError(`kernel heap would exceed ${MAX_PAGES * PAGE} bytes`);
    this.memory.grow(pages); // RangeError too when the system refuses the memory
    this.#refresh();
  }

  /** Byte offset of `a` in the heap, or null when it lives elsewhere. */
  offsetOf(a: ArrayBufferView): number | null {
    // most arrays asked about were made after the last growth: one comparison before the set
    const b = a.buffer;
    return b === this.#f32.buffer || this.#buffers.has(b) ? a.byteOffset : null;
  }

  /** n floats in the heap for good (16-byte aligned): for model weights. NOTE: not zeroed (what lies above the placed bytes may have been a call's scratch). */
  place(n: number): Float32Array {
    const at = this.#placed, end = at + Math.ceil((n * 4) / 16) * 16;
    this.#ensure(end); // throws RangeError before anything changes when it cannot
    this.#placed = end;
    return new Float32Array(this.memory.buffer, at, n);
  }

  /** Whether `bytes` more of weights fit, leaving room for scratch. */
  canPlace(bytes: number): boolean {
    return this.#placed + bytes + 64 * PAGE <= MAX_PAGES * PAGE;
  }

  /** Start a call: scratch from here on is free again. */
  reset(): void {
    this.#scratch = 0;
  }

  /** n floats of scratch (16-byte aligned); valid until the next reset. */
  scratch(n: number): number {
    const at = this.#placed + this.#scratch;
    this.#scratch += Math.ceil((n * 4) / 16) * 16;
    this.#ensure(at + n * 4 + 16);
    return at;
  }

  /** The whole heap as floats (valid until it next grows). */
  view(): Float32Array {
    return this.#f32;
  }

  /** The whole heap as int32s (valid until it next grows). */
  viewI32(): Int32Array {
    return this.#i32;
  }

  /** Where `a`'s first n floats are in the heap: in place, or copied into scratch. */
  input(a: Float32Array, n: number): number {
    // a short array would leave stale scratch where the kernel reads: refuse it outright
    if (a.length < n) throw new TypeError(`kernel argument has ${a.length} floats, the call needs ${n}`);
    const at = this.offsetOf(a);
    if (at !== null) return at;
    const p = this.scratch(n);
    this.#f32.set(n === a.length ? a : a.subarray(0, n), p >>> 2);
    return p;
  }

  /** n int32s of `a` copied into scratch (document starts, targets). */
  inputI32(a: ArrayLike<number>, n: number): number {
    if (a.length < n) throw new TypeError(`kernel argument has ${a.length} entries, the call needs ${n}`);
    const p = this.scratch(n);
    const i32 = this.#i32, o = p >>> 2;
    for (let i = 0; i < n; i++) i32[o + i] = a[i]!;
    return p;
  }

  /** Copy n floats at byte offset p back into `a` (when `a` is not that very memory). */
  output(a: Float32Array, p: number, n: number): void {
    if (this.offsetOf(a) === p) return;
    a.set(this.#f32.subarray(p >>> 2, (p >>> 2) + n));
  }
}

export const KERNELS_WASM = new URL("./kernels.wasm", import.meta.url);

const warned = new Set<string>();
/** One warning per reason per process: the fallback is correct, only slower. */
function warnOnce(reason: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  process.emitWarning(`engine kernels: ${reason}; using the TypeScript reference path`, { code: "ENGINE_KERNELS_FALLBACK" });
}

function loadHeap(): Heap | null {
  if (process.env.ENGINE_KERNELS === "ts") return null;
  try {
    return new Heap(new Uint8Array(readFileSync(KERNELS_WASM)));
  } catch (e) {
    warnOnce(`WASM SIMD kernels unavailable (${e instanceof Error ? e.message : String(e)})`);
    return null;
  }
}

const heap = loadHeap();

// the batched LoRA delta over Bᵀ (lora-kernel.wat) on the same memory; without it, lora_rows
const loraKernel: LoraKernel | null = (() => {
  if (!heap) return null;
  const { kernel, reason } = instantiateLoraKernel(heap.memory);
  if (!kernel) process.emitWarning(`engine kernels: the Bᵀ LoRA kernel is unavailable (${reason}); using lora_rows`, { code: "ENGINE_KERNELS_FALLBACK" });
  return kernel;
})();

let enabled = true;

/** The thread count the engine runs when nobody calls setThreads: ENGINE_THREADS, else the core count; a bad value is refused loudly rather than guessed at. */
export function defaultThreads(): number {
  const env = process.env.ENGINE_THREADS;
  if (env === undefined || env === "") return availableParallelism();
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`ENGINE_THREADS must be a positive integer, got ${JSON.stringify(env)}`);
  return n;
}

// ── long-lived arrays in the heap (KV caches): the kernels read them in place instead of copying
// them in on every call. Blocks are never handed back to the bump allocator; a block whose array
// has been garbage-collected goes to a free list by size and is handed out again, zeroed.
// NOTE: a subarray view must not outlive the array it was cut from (its block may be reused).
const POOL_BUDGET = 1 << 30; // bytes of such arrays at most; past it they are ordinary arrays
let pooledBytes = 0;
const freeBlocks = new Map<number, number[]>(); // block bytes → byte offsets
const blocks = new FinalizationRegistry<{ at: number; bytes: number }>(({ at, bytes }) => {
  const list = freeBlocks.get(bytes);
  if (list) list.push(at);
  else freeBlocks.set(bytes, [at]);
});

/** n zeros in the heap, for an array that lives a while (a KV cache); an ordinary array where the heap cannot take it. */
export function heapFloats(n: number): Float32Array {
  if (!heap || n <= 0) return new Float32Array(n);
  const bytes = Math.ceil((n * 4) / 16) * 16;
  let at = freeBlocks.get(bytes)?.pop();
  if (at === undefined) {
    if (pooledBytes + bytes > POOL_BUDGET || !heap.canPlace(bytes)) return new Float32Array(n);
    try {
      at = heap.place(n).byteOffset;
    } catch (e) {
      if (e instanceof RangeError) return new Float32Array(n);
      throw e;
    }
    pooledBytes += bytes;
  }
  const a = new Float32Array(heap.view().buffer, at, n);
  a.fill(0);
  blocks.register(a, { at, bytes });
  return a;
}

// ── the activations of one training step in the heap: the kernels read and write them where
// they lie, instead of copying every argument in and every result out on each call ──

const ARENA_CHUNK = 1 << 22; // floats (16 MiB) placed at a time

/**
 * A bump allocator of zeroed floats in the kernel heap for one forward + backward. Its chunks
 * are placed for good and handed out again after each reset, so a training run's heap grows to
 * its largest step and stays there. NOTE: an array from it is valid only until the next reset.
 */
export class HeapArena {
  #h: Heap;
  #chunks: Float32Array[] = [];
  #chunk = 0; // the chunk being handed out
  #used = 0; // floats of it handed out (multiples of 4: 16-byte alignment)

  constructor(h: Heap) {
    this.#h = h;
  }

  /** n zeros in the heap (zero = false: contents unspecified); an ordinary array when the heap cannot grow to hold them. */
  floats(n: number, zero = true): Float32Array {
    const n4 = (n + 3) & ~3;
    while (this.#chunk < this.#chunks.length && this.#used + n4 > this.#chunks[this.#chunk]!.length) {
      this.#chunk++;
      this.#used = 0;
    }
    if (this.#chunk === this.#chunks.length) {
      const size = Math.max(n4, ARENA_CHUNK);
      if (!this.#h.canPlace(size * 4)) return new Float32Array(n);
      try {
        this.#chunks.push(this.#h.place(size));
      } catch (e) {
        if (e instanceof RangeError) return new Float32Array(n);
        throw e;
      }
      this.#used = 0;
    }
    const a = this.#chunks[this.#chunk]!.subarray(this.#used, this.#used + n);
    this.#used += n4;
    if (zero) this.#h.kernels.fill_zero(a.byteOffset, n * 4);
    return a;
  }

  /** Hand every float out again (the arrays given out before are now garbage). */
  reset(): void {
    this.#chunk = 0;
    this.#used = 0;
  }

  /** Floats placed for the arena (its high-water mark). */
  get capacity(): number {
    return this.#chunks.reduce((n, c) => n + c.length, 0);
  }
}

let arena: HeapArena | null = null, arenaBusy = false;

/**
 * Run fn with the process's step arena (null on the reference path), reset before and after:
 * everything fn allocates from it is garbage once fn returns, so fn must return plain values.
 * Not re-entrant: a nested call gets null and allocates ordinary arrays.
 */
export function withStepArena<R>(fn: (a: HeapArena | null) => R): R {
  if (!heap || !enabled || arenaBusy) return fn(null);
  arena ??= new HeapArena(heap);
  arenaBusy = true;
  arena.reset();
  try {
    return fn(arena);
  } finally {
    arena.reset();
    arenaBusy = false;
  }
}

/** Which path the hot loops take now. */
export function kernelPath(): "wasm-simd" | "ts" {
  return heap && enabled ? "wasm-simd" : "ts";
}

/** Turn the kernels off (true: back on where available): benchmarks compare both paths in one process. */
export function useKernels(on: boolean): void {
  enabled = on;
}

// ── threads: the main thread plus workers on the same heap (threads.ts) ──

let threads: number | null = null, pool: KernelPool | null = null, threadTimeoutMs = 10_000; // null: not decided yet
const MIN_SLICE_WORK = 1 << 18; // multiply-adds per slice below which waking a worker never pays
// "auto": a call big enough to split splits only where that has measured faster (split-chooser.ts);
// "always": every such call splits (tests that must see the threads used)
let splitMode: "auto" | "always" = "auto";
const chooser = new SplitChooser();

/**
 * Use n threads (the main one included) for kernel calls big enough to split: batched forward
 * (rows of the batch), training (rows of the sequence, rows of dW, KV groups of attention).
 * 1: no worker runs (a pool already started sleeps). Defaults to ENGINE_THREADS, else the
 * machine's core count. A pool that cannot start falls back to 1 with a warning. timeoutMs: how long a call waits for a worker's slice
 * before it fails with KernelThreadError and the worker is replaced. split: "auto" (the default)
 * splits a call only where splitting that kind of call has measured faster by the wall clock
 * (split-chooser.ts: on the committed model at 64 rows, on this 2-core machine, no matmul did);
 * "always" splits every call big enough. Either way the same bits. Another n forgets what
 * "auto" measured (its calls were cut into another number of slices).
 */
export function setThreads(n: number, opts: { timeoutMs?: number; split?: "auto" | "always" } = {}): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
  if (opts.split !== undefined && opts.split !== "auto" && opts.split !== "always") throw new RangeError(`split must be "auto" or "always", got ${JSON.stringify(opts.split)}`);
  if (opts.timeoutMs !== undefined) threadTimeoutMs = opts.timeoutMs;
  if (opts.split !== undefined) splitMode = opts.split;
  if (pool) pool.timeoutMs = threadTimeoutMs;
  if (threads !== n) chooser.clear(); // its times were measured with calls cut into another number of slices
  threads = n;
  // fewer threads than the pool has: the spare workers sleep (so going back up costs nothing)
  if (n === 1 || !heap || (pool && pool.size >= n - 1)) return;
  void pool?.close(); // no call is in flight: every call waits for its slices
  pool = null;
  try {
    const ctl = heap.place(controlInts(n - 1)); // lives as long as the process: a few KiB per pool
    ctl.fill(0); // it may hold old scratch: a stale DONE_GEN or TASK_GEN would pass for this pool's stamps
    const loraWasm = loraKernel ? new Uint8Array(readFileSync(LORA_KERNEL_WASM)) : null; // the workers run lora_rows_t too
    pool = new KernelPool({ memory: heap.memory, wasm: heap.wasm, loraWasm, ctl: new Int32Array(ctl.buffer, ctl.byteOffset, controlInts(n - 1)), workers: n - 1, timeoutMs: threadTimeoutMs });
  } catch (e) {
    threads = 1;
    warnOnce(`kernel worker threads unavailable (${e instanceof Error ? e.message : String(e)}), running on one thread`);
  }
}

/** Threads kernel calls may use now (1 + workers ready), and the pool for tests and warm-up. */
export function threadCount(): { configured: number; ready: number; pool: KernelPool | null } {
  const configured = threads ?? defaultThreads();
  return { configured, ready: Math.min(configured, 1 + (pool?.ready().length ?? 0)), pool };
}

/**
 * How many slices `rows` rows of `work` multiply-adds in all should be cut into now; with a
 * key (callKey), 1 where splitting that kind of call has measured slower (see setThreads' split).
 * NOTE: call it before staging a call's arguments: the first call big enough starts the pool,
 * which places its control block in the heap right where that scratch would lie.
 */
function slicesFor(rows: number, work: number, key = -1): number {
  if (rows < 2 || work < 2 * MIN_SLICE_WORK) return 1;
  if (threads === null) setThreads(defaultThreads()); // the first call big enough to split starts the workers
  if (!pool || threads === 1) return 1;
  const k = Math.max(1, Math.min(rows, threads ?? 1, 1 + pool.ready().length, Math.floor(work / MIN_SLICE_WORK)));
  return k === 1 || key < 0 || splitMode === "always" || chooser.pick(key) ? k : 1;
}

// the kinds of call the chooser tells apart: the kernel, its two widths, its rows to a power of two
const SITE = { matmul: 0, matmul_dx: 1, matmul_dw: 2, attn_fwd: 3, attn_bwd: 4, lora_rows_t: 5 } as const;
function callKey(site: number, rows: number, n: number, d: number): number {
  return ((site * 65536 + Math.min(n, 65535)) * 65536 + Math.min(d, 65535)) * 32 + Math.min(31, Math.floor(Math.log2(Math.max(rows, 1))));
}

/** Run a kernel call in k slices (decided by slicesFor with `key`), its wall time per unit of work noted for the chooser. */
function timed(key: number, k: number, work: number, run: () => void): void {
  if (key < 0 || !pool || threads === 1 || work < 2 * MIN_SLICE_WORK) return run(); // nothing to choose between
  const t0 = performance.now();
  run();
  chooser.record(key, k > 1, ((performance.now() - t0) * 1e6) / work);
}

/** [r0, r1) bounds cutting `rows` into n nearly equal parts (multiples of `unit` but the last). */
function bounds(rows: number, n: number, unit = 1): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const units = Math.ceil(rows / unit);
  for (let i = 0; i < n; i++) {
    const a = Math.floor((units * i) / n) * unit, b = Math.min(rows, Math.floor((units * (i + 1)) / n) * unit);
    if (b > a) out.push([a, b]);
  }
  return out;
}

/** Run one kernel over slices: slice 0 here, the rest on workers (one slice: just call it). */
function runSlices(h: Heap, kernel: Exclude<KernelName, "lora_rows_t">, slices: number[][]): void {
  const call = (args: number[]) => (h.kernels[kernel] as (...a: number[]) => void)(...args);
  if (slices.length === 1 || !pool) return slices.forEach(call);
  pool.run(kernel, slices, call);
}

const f32 = (a: Arr[]): a is Float32Array[] => a.every((x) => x instanceof Float32Array);

/** The kernels' checks on a call; null: run the reference. */
function usable(arrays: Arr[], T: number, n: number, d: number): Heap | null {
  if (!heap || !enabled) return null;
  if (!f32(arrays)) return null; // fp64: the gradient checks, which want the reference's exact arithmetic
  if (!(Number.isInteger(T) && Number.isInteger(n) && Number.isInteger(d) && T >= 0 && n >= 0 && d >= 0)) {
    warnOnce(`shape (${T}, ${n}, ${d}) is not three non-negative integers`);
    return null;
  }
  return heap;
}

/**
 * Copies a call's arguments into the heap: null (and a warning) when the heap cannot hold them,
 * so the caller runs the reference instead. Every copy happens before any kernel runs, so a
 * fallback never follows a half-done call.
 */
function stage<P>(h: Heap, copy: () => P): P | null {
  h.reset();
  try {
    return copy();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    warnOnce(`the kernel heap cannot hold this call (${e.message})`);
    return null;
  }
}

/** out(T,d) = x(T,n) · w(d,n)ᵀ, as ops.ts matmul. */
export function matmul(out: Arr, x: Arr, w: Arr, T: number, n: number, d: number): void {
  const h = usable([out, x, w], T, n, d);
  // rows of x (and of out) split across threads; one slice (decode, small calls) allocates nothing
  const key = h ? callKey(SITE.matmul, T, n, d) : -1;
  const k = h && T > 0 && d > 0 ? slicesFor(T, T * n * d, key) : 1; // before staging (see slicesFor)
  const p = h && T > 0 && d > 0 ? stage(h, () => ({ w: h.input(w as Float32Array, d * n), x: h.input(x as Float32Array, T * n), out: h.offsetOf(out as Float32Array) ?? h.scratch(T * d) })) : null;
  if (!h || !p) return ref.matmul(out, x, w, T, n, d);
  timed(key, k, T * n * d, () => {
    if (k === 1) h.kernels.matmul(p.out, p.x, p.w, T, n, d);
    else runSlices(h, "matmul", bounds(T, k).map(([a, b]) => [p.out + a * d * 4, p.x + a * n * 4, p.w, b - a, n, d]));
  });
  h.output(out as Float32Array, p.out, T * d);
}

/** dx(T,n) += dy·w and dw(d,n) += dyᵀ·x (when given), as ops.ts matmulBackward. */
export function matmulBackward(dx: Arr | null, dw: Arr | null, dy: Arr, x: Arr, w: Arr, T: number, n: number, d: number): void {
  const h = usable([dy, x, w, ...(dx ? [dx] : []), ...(dw ? [dw] : [])], T, n, d);
  const go = h !== null && T > 0 && n > 0 && d > 0;
  // rows of dx (and dy) in the kernel's blocks of four, rows of dw: decided before staging (see slicesFor)
  const keyX = callKey(SITE.matmul_dx, T, n, d), keyW = callKey(SITE.matmul_dw, T, n, d);
  // dx's slices are whole blocks of four rows: at most ⌈T/4⌉ of them (T ≤ 4: one, not a split)
  const kx = go && dx ? slicesFor(Math.ceil(T / 4), T * n * d, keyX) : 1, kw = go && dw ? slicesFor(d, T * n * d, keyW) : 1;
  const p = go && h ? stage(h, () => ({
    dy: h.input(dy as Float32Array, T * d),
    dx: dx ? { w: h.input(w as Float32Array, d * n), dx: h.input(dx as Float32Array, T * n) } : null,
    dw: dw ? { x: h.input(x as Float32Array, T * n), dw: h.input(dw as Float32Array, d * n) } : null,
  })) : null;
  if (!h || !p) return ref.matmulBackward(dx, dw, dy, x, w, T, n, d);
  if (dx && p.dx) {
    const px = p.dx; // rows of dx (and dy) split across threads, in the kernel's blocks of four (so the same bits as one thread)
    timed(keyX, kx, T * n * d, () => {
      if (kx === 1) h.kernels.matmul_dx(px.dx, p.dy, px.w, T, n, d);
      else runSlices(h, "matmul_dx", bounds(T, kx, 4).map(([a, b]) => [px.dx + a * n * 4, p.dy + a * d * 4, px.w, b - a, n, d]));
    });
    h.output(dx as Float32Array, px.dx, T * n);
  }
  if (dw && p.dw) {
    const pw = p.dw; // rows of dw split across threads
    timed(keyW, kw, T * n * d, () => {
      if (kw === 1) h.kernels.matmul_dw(pw.dw, p.dy, pw.x, T, n, d, 0, d);
      else runSlices(h, "matmul_dw", bounds(d, kw).map(([a, b]) => [pw.dw, p.dy, pw.x, T, n, d, a, b]));
    });
    h.output(dw as Float32Array, pw.dw, d * n);
  }
}

/**
 * One decode row of causal GQA attention, as the reference loop in model.ts forward: the row's
 * query q[qOff..], its cache's keys and values of positions 0..pos from cacheOff (kvDim floats
 * each), into out[outOff..]. False when the kernel cannot take it (head size not a multiple of
 * 4): the caller then runs its reference loop.
 */
export function attendRow(out: Float32Array, outOff: number, q: Float32Array, qOff: number, key: Float32Array, value: Float32Array, cacheOff: number, pos: number, nH: number, nKv: number, hd: number): boolean {
  if (!heap || !enabled) return false;
  if (hd % 4 !== 0) {
    warnOnce(`head size ${hd} is not a multiple of 4 for the attention kernel`);
    return false;
  }
  const h = heap, kvN = (pos + 1) * nKv * hd;
  const p = stage(h, () => ({
    q: h.input(q.subarray(qOff, qOff + nH * hd), nH * hd),
    k: h.input(key.subarray(cacheOff, cacheOff + kvN), kvN),
    v: h.input(value.subarray(cacheOff, cacheOff + kvN), kvN),
    scores: h.scratch(pos + 1),
    out: h.scratch(nH * hd),
  }));
  if (!p) return false;
  h.kernels.attend(p.out, p.q, p.k, p.v, p.scores, pos, nH, nKv, hd);
  h.output(out.subarray(outOff, outOff + nH * hd), p.out, nH * hd);
  return true;
}

// ── training ops (train-graph.ts), each the kernel of the same name in ops.ts ──

/** The training kernels' check: fp32 arrays and a kernel runtime, else null (run ops.ts). */
function trainHeap(arrays: Arr[]): Heap | null {
  return heap && enabled && f32(arrays) ? heap : null;
}

/** Causal GQA attention over one sequence (probs, ops.ts probsLength, kept for the backward), as ops.ts attention. */
export function attention(out: Arr, probs: Arr, q: Arr, k: Arr, v: Arr, T: number, nH: number, nKv: number, hd: number, starts: ArrayLike<number> | null = null): void {
  let h = trainHeap([out, probs, q, k, v]);
  if (h && hd % 4 !== 0) { warnOnce(`head size ${hd} is not a multiple of 4 for the attention kernel`); h = null; }
  const Tp = (T + 3) & ~3, qDim = nH * hd, kvDim = nKv * hd, group = nH / nKv;
  const key = callKey(SITE.attn_fwd, T, nH * hd, nKv * hd), work = nH * T * T * hd;
  const parts = bounds(nKv, h && T > 0 ? slicesFor(nKv, work, key) : 1); // whole KV groups per thread, each with its own scratch (asked only where the kernel runs)
  const p = h && T > 0 ? stage(h, () => ({
    q: h.input(q as Float32Array, T * qDim), k: h.input(k as Float32Array, T * kvDim), v: h.input(v as Float32Array, T * kvDim),
    starts: starts ? h.inputI32(starts, T) : 0, work: parts.map(() => h.scratch(2 * hd * Tp + 16 * hd)),
    out: h.offsetOf(out as Float32Array) ?? h.scratch(T * qDim), probs: h.offsetOf(probs as Float32Array) ?? h.scratch(ref.probsLength(T, nH)),
  })) : null;
  if (!h || !p) return ref.attention(out, probs, q, k, v, T, nH, nKv, hd, starts);
  timed(key, parts.length, work, () => runSlices(h, "attn_fwd", parts.map(([g0, g1], i) => [p.out, p.probs, p.q, p.k, p.v, p.starts, starts ? 1 : 0, p.work[i]!, T, nH, nKv, hd, g0 * group, g1 * group])));
  h.output(out as Float32Array, p.out, T * qDim);
  h.output(probs as Float32Array, p.probs, ref.probsLength(T, nH));
}

/** Backward of attention: accumulates dq, dk, dv, as ops.ts attentionBackward. */
export function attentionBackward(dq: Arr, dk: Arr, dv: Arr, dout: Arr, probs: Arr, q: Arr, k: Arr, v: Arr, T: number, nH: number, nKv: number, hd: number, starts: ArrayLike<number> | null = null): void {
  let h = trainHeap([dq, dk, dv, dout, probs, q, k, v]);
  if (h && hd % 4 !== 0) { warnOnce(`head size ${hd} is not a multiple of 4 for the attention kernel`); h = null; }
  const Tp = (T + 3) & ~3, qDim = nH * hd, kvDim = nKv * hd, group = nH / nKv;
  const key = callKey(SITE.attn_bwd, T, nH * hd, nKv * hd), work = 2 * nH * T * T * hd;
  const parts = bounds(nKv, h && T > 0 ? slicesFor(nKv, work, key) : 1); // whole KV groups: each writes only its group's dk, dv (asked only where the kernel runs)
  const p = h && T > 0 ? stage(h, () => ({
    dout: h.input(dout as Float32Array, T * qDim), probs: h.input(probs as Float32Array, ref.probsLength(T, nH)),
    q: h.input(q as Float32Array, T * qDim), k: h.input(k as Float32Array, T * kvDim), v: h.input(v as Float32Array, T * kvDim),
    dq: h.input(dq as Float32Array, T * qDim), dk: h.input(dk as Float32Array, T * kvDim), dv: h.input(dv as Float32Array, T * kvDim),
    starts: starts ? h.inputI32(starts, T) : 0, work: parts.map(() => h.scratch(4 * hd * Tp + 32 * hd + 4 * Tp)),
  })) : null;
  if (!h || !p) return ref.attentionBackward(dq, dk, dv, dout, probs, q, k, v, T, nH, nKv, hd, starts);
  timed(key, parts.length, work, () => runSlices(h, "attn_bwd", parts.map(([g0, g1], i) => [p.dq, p.dk, p.dv, p.dout, p.probs, p.q, p.k, p.v, p.starts, starts ? 1 : 0, p.work[i]!, T, nH, nKv, hd, g0 * group, g1 * group])));
  h.output(dq as Float32Array, p.dq, T * qDim);
  h.output(dk as Float32Array, p.dk, T * kvDim);
  h.output(dv as Float32Array, p.dv, T * kvDim);
}

/** out = x / rms(x) · w per row of n, as ops.ts rmsnorm (out may be x). */
export function rmsnorm(out: Arr, x: Arr, w: Arr, T: number, n: number, eps: number): void {
  const h = trainHeap([out, x, w]);
  const p = h && T > 0 && n > 0 ? stage(h, () => ({ x: h.input(x as Float32Array, T * n), w: h.input(w as Float32Array, n), out: h.offsetOf(out as Float32Array) ?? h.scratch(T * n) })) : null;
  if (!h || !p) return ref.rmsnorm(out, x, w, T, n, eps);
  h.kernels.rmsnorm(p.out, p.x, p.w, T, n, eps);
  h.output(out as Float32Array, p.out, T * n);
}

/** Backward of rmsnorm, as ops.ts rmsnormBackward. */
export function rmsnormBackward(dx: Arr, dw: Arr | null, dy: Arr, x: Arr, w: Arr, T: number, n: number, eps: number): void {
  const h = trainHeap([dx, dy, x, w, ...(dw ? [dw] : [])]);
  const p = h && T > 0 && n > 0 ? stage(h, () => ({
    dy: h.input(dy as Float32Array, T * n), x: h.input(x as Float32Array, T * n), w: h.input(w as Float32Array, n),
    dx: h.input(dx as Float32Array, T * n), dw: dw ? h.input(dw as Float32Array, n) : 0,
  })) : null;
  if (!h || !p) return ref.rmsnormBackward(dx, dw, dy, x, w, T, n, eps);
  h.kernels.rmsnorm_bwd(p.dx, p.dw, dw ? 1 : 0, p.dy, p.x, p.w, T, n, eps);
  h.output(dx as Float32Array, p.dx, T * n);
  if (dw) h.output(dw as Float32Array, p.dw, n);
}

/** SwiGLU over n values, as ops.ts swiglu. */
export function swiglu(out: Arr, gate: Arr, up: Arr, n: number): void {
  const h = trainHeap([out, gate, up]);
  const p = h && n > 0 ? stage(h, () => ({ gate: h.input(gate as Float32Array, n), up: h.input(up as Float32Array, n), out: h.offsetOf(out as Float32Array) ?? h.scratch(n) })) : null;
  if (!h || !p) return ref.swiglu(out, gate, up, n);
  h.kernels.swiglu(p.out, p.gate, p.up, n);
  h.output(out as Float32Array, p.out, n);
}

/** Backward of swiglu, as ops.ts swigluBackward. */
export function swigluBackward(dgate: Arr, dup: Arr, dout: Arr, gate: Arr, up: Arr, n: number): void {
  const h = trainHeap([dgate, dup, dout, gate, up]);
  const p = h && n > 0 ? stage(h, () => ({
    dout: h.input(dout as Float32Array, n), gate: h.input(gate as Float32Array, n), up: h.input(up as Float32Array, n),
    dgate: h.input(dgate as Float32Array, n), dup: h.input(dup as Float32Array, n),
  })) : null;
  if (!h || !p) return ref.swigluBackward(dgate, dup, dout, gate, up, n);
  h.kernels.swiglu_bwd(p.dgate, p.dup, p.dout, p.gate, p.up, n);
  h.output(dgate as Float32Array, p.dgate, n);
  h.output(dup as Float32Array, p.dup, n);
}

/** y += a·x over n values, as ops.ts addScaled. */
export function addScaled(y: Arr, x: Arr, a: number, n: number): void {
  const h = trainHeap([y, x]);
  const p = h && n > 0 ? stage(h, () => ({ x: h.input(x as Float32Array, n), y: h.input(y as Float32Array, n) })) : null;
  if (!h || !p) return ref.addScaled(y, x, a, n);
  h.kernels.add_scaled(p.y, p.x, a, n);
  h.output(y as Float32Array, p.y, n);
}

/** Mean cross-entropy and its gradient, as ops.ts crossEntropy. */
export function crossEntropy(dlogits: Arr | null, logits: Arr, targets: ArrayLike<number>, T: number, V: number, gradScale = 1): { sum: number; count: number } {
  const h = trainHeap([logits, ...(dlogits ? [dlogits] : [])]);
  let count = 0;
  for (let t = 0; t < T; t++) {
    const y = targets[t]!;
    if (y >= V || !Number.isInteger(y)) throw new RangeError(`target ${y} at ${t} is outside the vocabulary of ${V}`);
    if (y >= 0) count++;
  }
  const p = h && T > 0 && V > 0 ? stage(h, () => ({ logits: h.input(logits as Float32Array, T * V), targets: h.inputI32(targets, T), dl: dlogits ? h.offsetOf(dlogits as Float32Array) ?? h.scratch(T * V) : 0 })) : null;
  if (!h || !p) return ref.crossEntropy(dlogits, logits, targets, T, V, gradScale);
  const sum = h.kernels.cross_entropy(p.dl, dlogits ? 1 : 0, p.logits, p.targets, T, V, count ? gradScale / count : 0);
  if (dlogits) h.output(dlogits as Float32Array, p.dl, T * V);
  return { sum, count };
}

/**
 * BGMV, as lora.ts addLoraDelta: out[b] += scale · B·(A·x[b]) for each row b whose adapter has
 * this projection, in one kernel call for the batch. x and out are read and written in place
 * when they live in the heap (the decode RunState does), else copied in once; a resident
 * adapter's A and Bᵀ are read where they lie, any other adapter's once per call however many
 * rows share it.
 */
export function addLoraDelta(out: Float32Array, x: Float32Array, adapters: ReadonlyArray<LoraAdapter | null>, layer: number, t: Target, n: number, d: number, mid: Float32Array): void {
  const h = heap && enabled ? heap : null;
  const done = h ? loraRows(h, loraKernel, out, x, adapters, layer, t, n, d) : false;
  if (!done) lora.addLoraDelta(out, x, adapters, layer, t, n, d, mid);
}

const MAX_RANK = 1024; // validateLoraConfig's bound: the kernel's mid scratch holds any rank
const BF16 = 0x10000; // a row table's rank word: this row's matrices are bf16 (lora-kernel.wat)

/**
 * A decode step's LoRA rows resolved once for every layer and projection: the kernel's row
 * tables, (layer, TARGETS index, row, 4 words: A offset, Bᵀ offset, rank, scale), written in
 * one pass over the rows from each resident adapter's offsets (LoraAdapter.resident). With
 * many distinct adapters in a batch, finding each row's matrices through layers → pair →
 * arrays on every projection's call touched thousands of scattered JS objects a step.
 * NOTE: valid for one forward(): the table is reused by the next plan.
 */
export interface LoraStep {
  adapters: ReadonlyArray<LoraAdapter | null>;
  rows: number;
  table: number; // byte offset of the tables in the heap
  has: Int32Array; // (layer, TARGETS index): how many rows have that pair
  rankBytes: number; // Σ rank × element bytes over the distinct adapters: the matrices a call reads (× (n + d)), for the thread split
}

// A plan's tables live in one of two heap blocks, in turn: the next plan copies the rows whose
// adapter it finds among the last plan's rows from the other block (rows shift as sequences
// leave and join the batch; a row's entries are the same wherever it stands), so only the rows
// of an adapter new to the batch read that adapter's offsets. With 64 distinct adapters, those
// reads are cache misses on objects the step does not otherwise touch: rewriting every shifted
// row cost more than the rest of the plan (docs/benchmarks.md, the fifth round).
// NOTE: each Float32Array is the very array heapFloats handed out: held here, its block is never
// handed to anyone else (a block goes back to the free list once its array is collected)
interface PlanTable {
  f: Float32Array; // the tables as floats (the scales)
  i: Int32Array; // and as int32s (the rest)
  rows: number; // the plan written here: its rows, layers, targets (bit set of TARGETS indices), context
  nLayers: number;
  key: number;
  widen: boolean; // a plan for the targets its rows need (targets null): its key holds every projection of its rows' adapters
  context: object | null;
  epoch: number; // `placements` when it was written
  adapters: Array<LoraAdapter | null>; // per row, the adapter its entries were written from
  resident: Array<Int32Array | null>; // and that adapter's `resident` then (its offsets)
  count: Int32Array; // (layer, TARGETS index): how many rows have that pair
  rankBytes: number;
}
const planTables: PlanTable[] = [];
let lastPlan: PlanTable | null = null; // the latest complete plan (null: none to trust)
let placements = 0; // bumped by every AdapterSlots place and release, anywhere in the process

/** AdapterSlots placed or released an adapter (its `resident` changed): a step plan looks at every row again. */
export function notePlacement(): void {
  placements++;
}

// TARGETS indices of a bit set of them, one array per set (plans reuse it every step)
const indexSets = new Map<number, Int32Array>();
function targetIndices(key: number): Int32Array {
  let ts = indexSets.get(key);
  if (!ts) indexSets.set(key, (ts = Int32Array.from(TARGETS.keys()).filter((i) => key & (1 << i))));
  return ts;
}

const LOOK_AHEAD = 24; // rows of the last plan searched for a row's adapter past the last match (a prefill chunk's rows, a few that left)

/**
 * The step's row tables, or null when the kernel path cannot take them (no Bᵀ kernel, the
 * reference path, no room in the heap for the tables, a row whose adapter is not resident): the
 * caller then runs addLoraDelta per projection, which copies what is not resident.
 * targets: the projections to write tables for; null: every projection some row's adapter has
 * (the plan widens itself when a new adapter has more). check: called once with each adapter a
 * row takes up anew (not for rows carried over from the last plan of the same context, which
 * had it called then): forward() checks there that the adapter fits the model, so that a step
 * whose rows did not change touches none of their adapters. context: what `check` checks
 * against (forward(): its RunState's, for that model's config); a plan for another context starts anew.
 */
export function planLoraStep(adapters: ReadonlyArray<LoraAdapter | null>, nLayers: number, targets: ReadonlyArray<Target> | null, check?: (a: LoraAdapter) => void, context: object | null = null): LoraStep | null {
  if (!heap || !enabled || !loraKernel) return null;
  const B = adapters.length, nT = TARGETS.length;
  let key = 0; // the targets as a bit set
  if (targets) for (let j = 0; j < targets.length; j++) key |= 1 << TARGETS.indexOf(targets[j]!);
  else if (lastPlan && lastPlan.widen && lastPlan.context === context && lastPlan.nLayers === nLayers) key = lastPlan.key; // as wide as last time, until a row needs more (not an explicit list's: its rows may have more)
  for (;;) {
    const got = writePlan(adapters, B, nLayers, nT, key, targets === null, check, context);
    if (typeof got !== "number") return got;
    key = got; // a new adapter has projections outside the tables: again with them
  }
}

// one attempt at a plan: the step, null (cannot), or the wider target set it needs
function writePlan(adapters: ReadonlyArray<LoraAdapter | null>, B: number, nLayers: number, nT: number, key: number, widen: boolean, check: ((a: LoraAdapter) => void) | undefined, context: object | null): LoraStep | null | number {
  const h = heap!, words = nLayers * nT * B * 4, last = lastPlan;
  // comparable: its rows' entries are this plan's. Not for a plan that widens from one that did
  // not: the rows carried over from it were never looked at for projections outside its list
  const like = last !== null && last.nLayers === nLayers && last.key === key && last.context === context && (last.widen || !widen);
  const still = like && last.epoch === placements; // nothing placed or released since: every offset as it was
  // the same rows as the last plan: its tables as they are (decode: the same sequences step after step)
  if (still && last.rows === B) {
    let b = 0;
    while (b < B && adapters[b] === last.adapters[b]) b++;
    if (b === B) return { adapters, rows: B, table: last.i.byteOffset, has: last.count, rankBytes: last.rankBytes };
  }
  // else into the block the last plan is not in, carrying over what it can from it
  let t = planTables.find((p) => p !== last && p.i.length >= words);
  if (!t) {
    const old = planTables.find((p) => p !== last);
    const f = heapFloats(Math.max(words, 2 * (old?.i.length ?? 0)));
    if (h.offsetOf(f) === null) return null; // the heap could not take it
    t = { f, i: new Int32Array(f.buffer, f.byteOffset, f.length), rows: 0, nLayers: 0, key: 0, widen: false, context: null, epoch: -1, adapters: [], resident: [], count: new Int32Array(0), rankBytes: 0 };
    if (old) planTables.splice(planTables.indexOf(old), 1, t);
    else planTables.push(t);
  }
  lastPlan = null; // until this plan is complete: a refusal part-way leaves nothing to trust
  const tab = t.i, fv = t.f, ts = targetIndices(key), nts = ts.length;
  const src = like ? last : null, sTab = src?.i, sB = src?.rows ?? 0, sAd = src?.adapters, sRes = src?.resident;
  if (t.count.length !== nLayers * nT) t.count = new Int32Array(nLayers * nT);
  const count = t.count;
  count.fill(0);
  t.adapters.length = B;
  t.resident.length = B;
  let from = 0; // the last plan's row after the last one carried over
  for (let b = 0; b < B; b++) {
    const a = adapters[b] ?? null;
    t.adapters[b] = a;
    // where this row's entries come from: the row before (the same sequence's prefill rows), a
    // row of the last plan with the same adapter (after a place or release, only if its offsets
    // are the ones that row was written from: one look at the adapter), or the adapter itself
    let cp = -1, cpB = B, cpTab = tab;
    if (a && b > 0 && a === adapters[b - 1]) { cp = b - 1; t.resident[b] = t.resident[b - 1]!; }
    else if (a && sAd) {
      for (let q = from, end = Math.min(sB, from + LOOK_AHEAD); q < end; q++)
        if (sAd[q] === a) {
          if (still || a.resident === sRes![q]) { cp = q; from = q + 1; cpB = sB; cpTab = sTab!; t.resident[b] = sRes![q]!; }
          break;
        }
    }
    if (cp >= 0) {
      for (let l = 0; l < nLayers; l++)
        for (let j = 0; j < nts; j++) {
          const lt = l * nT + ts[j]!, e = (lt * B + b) * 4, s = (lt * cpB + cp) * 4;
          tab[e] = cpTab[s]!;
          tab[e + 1] = cpTab[s + 1]!;
          tab[e + 2] = cpTab[s + 2]!;
          tab[e + 3] = cpTab[s + 3]!; // the scale's bits
          if (tab[e + 2]) count[lt]!++;
        }
      continue;
    }
    const res = a ? a.resident ?? null : null;
    if (a && (!res || res.length !== nLayers * nT * 2)) return null; // not resident: the caller copies per call
    t.resident[b] = res;
    if (a) {
      check?.(a);
      if (widen) { // a projection the tables leave out: plan again with it
        let want = key;
        for (let l = 0; l < nLayers; l++) for (let i = 0; i < nT; i++) if (res![(l * nT + i) * 2] !== -1) want |= 1 << i; // −1, not < 0: an offset past 2 GiB reads negative
        if (want !== key) return want;
      }
    }
    for (let l = 0; l < nLayers; l++)
      for (let j = 0; j < nts; j++) {
        const lt = l * nT + ts[j]!, o = lt * 2, e = (lt * B + b) * 4;
        if (!res || res[o] === -1) { tab[e + 2] = 0; continue; } // rank 0: the kernel skips the row
        tab[e] = res[o]!;
        tab[e + 1] = res[o + 1]!;
        tab[e + 2] = a!.residentBf16 ? a!.config.r | BF16 : a!.config.r;
        fv[e + 3] = a!.scale;
        count[lt]!++;
      }
  }
  // Σ rank × element bytes over the distinct adapters (the matrices a call reads, for the thread
  // split), from the tables: an adapter's first pair's A offset is its own
  const seen = new Set<number>();
  let rankBytes = 0;
  for (let b = 0; b < B; b++) {
    if (!t.adapters[b] || t.adapters[b] === t.adapters[b - 1]) continue;
    for (let l = 0, found = false; l < nLayers && !found; l++)
      for (let j = 0; j < nts; j++) {
        const e = ((l * nT + ts[j]!) * B + b) * 4, w = tab[e + 2]!;
        if (!w) continue;
        if (!seen.has(tab[e]!)) { seen.add(tab[e]!); rankBytes += (w & 0xffff) * (w & BF16 ? 2 : 4); }
        found = true;
        break;
      }
  }
  Object.assign(t, { rows: B, nLayers, key, widen, context, epoch: placements, rankBytes });
  lastPlan = t;
  return { adapters, rows: B, table: tab.byteOffset, has: count, rankBytes };
}

const MIN_LORA_SLICE_BYTES = 1 << 16; // adapter bytes a slice reads, below which waking a worker costs more than it saves

/**
 * addLoraDelta for one projection of a planned step: the same kernel on the same row table
 * the per-call path writes, so the same bits. See addLoraDeltaGroup.
 */
export function addLoraDeltaStep(step: LoraStep, out: Float32Array, x: Float32Array, layer: number, t: Target, n: number, d: number, mid: Float32Array): void {
  addLoraDeltaGroup(step, x, n, layer, [[t, out, d]], mid);
}

/** One projection of a group that shares an input: its name, its output (rows, d), d. */
export type LoraOutput = readonly [t: Target, out: Float32Array, d: number];

/**
 * The deltas of a planned step's projections that share the input x (rows, n) — q, k and v of
 * a layer, or gate and up — in one kernel call that goes row by row: a row's matrices for all
 * of them lie side by side in its adapter's block, so they are one stream, and x[b] is read
 * once. Each output's multiply-adds are the per-projection call's, so the same bits. Rows
 * split across the kernel threads when there are enough: the delta is bound by reading each
 * row's matrices, which every core does at once.
 */
export function addLoraDeltaGroup(step: LoraStep, x: Float32Array, n: number, layer: number, outs: ReadonlyArray<LoraOutput>, mid: Float32Array): void {
  const B = step.rows, nT = TARGETS.length;
  // the projections some row has: their (layer, projection) row tables, outputs and widths
  const live: Array<{ table: number; out: Float32Array; d: number }> = [];
  let dSum = 0;
  for (const [t, out, d] of outs) {
    const lt = layer * nT + TARGETS.indexOf(t);
    if (step.has[lt]) { live.push({ table: step.table + lt * B * 16, out, d }); dSum += d; }
  }
  if (!live.length) return; // no row has any of them
  const h = heap!, k = loraKernel!;
  const bytes = step.rankBytes * (live.length * n + dSum); // rows sharing an adapter find its matrices in cache
  const work = (bytes / MIN_LORA_SLICE_BYTES) * MIN_SLICE_WORK, key = callKey(SITE.lora_rows_t, B, n, dSum);
  const parts = slicesFor(B, work, key); // in the matmuls' units of work
  const p = stage(h, () => {
    const px = h.input(x, B * n), desc = h.scratch(4 * live.length), pouts = live.map((o) => h.input(o.out, B * o.d));
    const i32 = h.viewI32(); // after every input: one may have grown the heap
    live.forEach((o, j) => {
      const e = (desc >>> 2) + 4 * j;
      i32[e] = o.table;
      i32[e + 1] = pouts[j]!;
      i32[e + 2] = o.d;
    });
    return { x: px, desc, outs: pouts, mid: h.scratch(parts * MAX_RANK) };
  });
  if (!p) { // the heap cannot hold x and the outputs: the reference
    for (const [t, out, d] of outs) lora.addLoraDelta(out, x, step.adapters, layer, t, n, d, mid);
    return;
  }
  timed(key, parts, work, () => {
    if (parts === 1) k.lora_rows_t(p.desc, live.length, p.x, n, 0, B, p.mid);
    else pool!.run("lora_rows_t", bounds(B, parts).map(([a, b], i) => [p.desc, live.length, p.x, n, a, b, p.mid + i * MAX_RANK * 4]), (args) => k.lora_rows_t(...(args as Parameters<LoraKernel["lora_rows_t"]>)));
  });
  live.forEach((o, j) => h.output(o.out, p.outs[j]!, B * o.d));
}

/**
 * Where a resident pair's Ak and Bt (A and Bᵀ in the kernel's layout) lie in the heap, or null
 * when either does not. Cached on the pair (LoraPair.heapAt), checked against its Ak and Bt on
 * every use: adapter-slots.ts sets both anew when it places an adapter and drops them when it
 * releases one, so a stale entry never matches.
 */
function residentAt(h: Heap, p: LoraPair): LoraPair["heapAt"] | null {
  const at = p.heapAt;
  if (at && at.Ak === p.Ak && at.Bt === p.Bt) return at;
  const Ak = p.Ak, Bt = p.Bt;
  if (!Ak || !Bt) return null;
  const pA = h.offsetOf(Ak), pBt = h.offsetOf(Bt);
  if (pA === null || pBt === null) return null;
  return (p.heapAt = { Ak, Bt, pA, pBt, bf16: Ak instanceof Uint16Array });
}

/**
 * One batched LoRA kernel call (lora_rows_t on Bᵀ when lora-kernel.wasm loaded, else
 * kernels.wat's lora_rows on B), writing the row table (A offset, B or Bᵀ offset, rank, scale)
 * as it goes: a resident adapter is read where it lies, any other is copied in once per call
 * however many rows share it, every copy before the kernel runs. Both read the same values in
 * the same order, so resident and copied adapters give the same bits. True when done (nothing
 * to do counts); false when the heap cannot take the call, and the caller runs the reference.
 */
function loraRows(h: Heap, k: LoraKernel | null, out: Float32Array, x: Float32Array, adapters: ReadonlyArray<LoraAdapter | null>, layer: number, t: Target, n: number, d: number): boolean {
  const B = adapters.length;
  const staged = stage(h, () => {
    const px = h.input(x, B * n), pout = h.input(out, B * d), table = h.scratch(B * 4), pmid = h.scratch(MAX_RANK), desc = h.scratch(4);
    let i32 = h.viewI32(), f = h.view(), rows = 0;
    let copied: Map<LoraPair, number> | null = null; // pair → the row that staged it (adapters not resident only)
    for (let b = 0, e = table >>> 2; b < B; b++, e += 4) {
      const a = adapters[b], p = a?.layers[layer]?.[t];
      if (!a || !p) { i32[e + 2] = 0; continue; } // rank 0: the kernel skips the row
      const at = k ? residentAt(h, p) : null;
      let pA: number, pB: number, bf = 0;
      if (at) { pA = at.pA; pB = at.pBt; bf = at.bf16 ? BF16 : 0; }
      else {
        const seen = (copied ??= new Map()).get(p);
        if (seen !== undefined) { pA = i32[(table >>> 2) + seen * 4]!; pB = i32[(table >>> 2) + seen * 4 + 1]!; bf = i32[(table >>> 2) + seen * 4 + 2]! & BF16; }
        else {
          copied.set(p, b);
          const r = a.config.r;
          // lora_rows_t reads A and Bᵀ in its layout (lora-kernel.ts), lora_rows A and B as they
          // are; in f32, the adapter's own values (only a resident block may hold bf16)
          pA = k ? packIntoScratch(h, p.A, r, n, packA) : h.input(p.A, r * n);
          pB = k ? packIntoScratch(h, p.B, d, r, packBt) : h.input(p.B, d * r);
          i32 = h.viewI32(); f = h.view(); // copying may have grown the heap
        }
      }
      i32[e] = pA;
      i32[e + 1] = pB;
      i32[e + 2] = a.config.r | bf;
      f[e + 3] = a.scale;
      rows++;
    }
    i32[(desc >>> 2)] = table; // lora_rows_t's one projection: its table, output and width
    i32[(desc >>> 2) + 1] = pout;
    i32[(desc >>> 2) + 2] = d;
    return { px, pout, table, pmid, rows, desc };
  });
  if (!staged) return false;
  if (staged.rows === 0) return true; // no row has this projection: nothing to add
  if (k) k.lora_rows_t(staged.desc, 1, staged.px, n, 0, B, staged.pmid);
  else h.kernels.lora_rows(staged.pout, staged.px, staged.table, B, n, d, staged.pmid);
  h.output(out, staged.pout, B * d);
  return true;
}

/**
 * What of a checkpoint the kernels cannot take, in words (empty: all of it): weights that are
 * not fp32 (F64 checkpoints: every kernel declines them and ops.ts runs in full precision), a
 * head size that is not a multiple of 4 (attention runs on ops.ts, the matmuls on the kernels).
 */
export function kernelLimits(w: Weights, c?: Config): string[] {
  const out: string[] = [];
  const all = [w.embed_tokens, w.norm, w.lm_head, ...w.layers.flatMap((lw) => Object.values(lw) as Arr[])];
  if (!f32(all)) out.push("weights are not fp32 and the kernels take fp32 only (every op)");
  if (c && (c.dim / c.nHeads) % 4 !== 0) out.push(`head size ${c.dim / c.nHeads} is not a multiple of 4 (attention)`);
  return out;
}

// a matrix of a·b floats written into scratch by packA or packBt (the Bᵀ kernel's layout); its byte offset
function packIntoScratch(h: Heap, m: Float32Array, a: number, b: number, pack: typeof packA): number {
  const p = h.scratch(a * b);
  pack(h.view(), p >>> 2, m, a, b); // the view after scratch: it may have grown the heap
  return p;
}

/**
 * The same weights with every tensor moved into the kernel heap (tied embeddings stay one
 * tensor), so the kernels read them in place. A no-op on the reference path. With the config
 * (the checkpoint loaders pass it), a checkpoint the kernels cannot wholly take is named in a
 * warning when it loads, and the parts they decline run on ops.ts: slower, never wrong.
 */
export function placeWeights(w: Weights, c?: Config, name = "checkpoint"): Weights {
  if (!heap) return w;
  for (const l of kernelLimits(w, c)) warnOnce(`${name}: ${l}`);
  const all = [w.embed_tokens, w.norm, w.lm_head, ...w.layers.flatMap((lw) => Object.values(lw) as Arr[])];
  if (!f32(all)) return w; // fp64 weights stay where they are, at their precision
  const bytes = all.reduce((n: number, a) => n + Math.ceil((a.length * 4) / 16) * 16, 0);
  if (!heap.canPlace(bytes)) {
    // the kernels still run, copying each weight per call; slower, never wrong
    warnOnce(`${(bytes / 2 ** 20).toFixed(0)} MiB of weights do not fit the ${MAX_PAGES * PAGE / 2 ** 30} GiB kernel heap`);
    return w;
  }
  const move = (a: Float32Array) => {
    if (heap.offsetOf(a) !== null) return a;
    const v = heap.place(a.length);
    v.set(a);
    return v;
  };
  const embed = move(w.embed_tokens);
  return {
    embed_tokens: embed,
    layers: w.layers.map((lw) => Object.fromEntries(Object.entries(lw).map(([k, v]) => [k, move(v)])) as unknown as typeof lw),
    norm: move(w.norm),
    lm_head: w.lm_head === w.embed_tokens ? embed : move(w.lm_head),
  };
}

/**
 * dst = src's first n values as bf16 bits (nearest even) by the Bᵀ kernel's f32_to_bf16, both
 * views of the kernel heap (placeRegion's); false, nothing written, when that kernel is not
 * loaded: the caller rounds in JS (lora.ts toBf16, the same bits).
 */
export function heapToBf16(src: Float32Array, dst: Uint16Array, n: number): boolean {
  if (!loraKernel) return false;
  if (n > src.length || n > dst.length) throw new RangeError(`heapToBf16: ${n} values do not fit (${src.length} in, ${dst.length} out)`);
  loraKernel.f32_to_bf16(src.byteOffset, dst.byteOffset, n);
  return true;
}

/**
 * n floats of the kernel heap for good (16-byte aligned, contents unspecified), for a caller
 * that manages the region itself (adapter-slots.ts keeps resident adapters there, freeing and
 * reusing blocks as adapters come and go); null on the reference path or when it does not fit.
 */
export function placeRegion(n: number): Float32Array | null {
  if (!heap || !heap.canPlace(n * 4)) return null;
  try {
    return heap.place(n);
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}
