// Worker threads for the kernels: each worker instantiates kernels.wasm (and lora-kernel.wasm) on the same shared
// WebAssembly.Memory as the main thread (the heap), so a kernel call splits into slices (rows
// of x, rows of dw, KV groups of attention) that run at once on every core and write disjoint
// parts of the same output. No message passing on the hot path: the main thread writes each
// worker's slice into a control block in the heap, bumps a generation counter, runs the first
// slice itself, and waits (Atomics.wait) until every worker has stamped its slice done.
//
// Failure: a worker whose slice throws (a trap, a bad argument) reports the error in its slot,
// and the call throws KernelThreadError with it. A worker that dies or stops answering in the
// middle of a slice is caught by a deadline: the call throws KernelThreadError naming it
// instead of hanging, the worker is terminated and a fresh one takes its slot. A worker's
// stamp carries the generation it ran, so a late stamp from a worker given up on never counts
// for a later call.
import { Worker } from "node:worker_threads";

/** Raised when a slice of a threaded kernel call failed or its worker did not finish it. */
export class KernelThreadError extends Error {
  override name = "KernelThreadError";
}

// control block (int32 words): [GEN, DONE_SIGNAL, then one SLOT per worker]
const GEN = 0, DONE = 1, HEAD = 4;
// a worker's slot: READY (1 once instantiated), TASK_GEN (the generation it is given a slice
// in), DONE_GEN (the generation it finished), FAILED (1: its slice threw), KERNEL (index into
// KERNEL_NAMES, −1: exit the thread, for tests), NARGS, then the arguments, then the error text
const READY = 0, TASK_GEN = 1, DONE_GEN = 2, FAILED = 3, KERNEL = 4, NARGS = 5, ARGS = 6, MAX_ARGS = 22, ERR = ARGS + MAX_ARGS, ERR_BYTES = 256;
export const SLOT_INTS = ERR + ERR_BYTES / 4;
/** The control block's layout, shared with worker.ts. */
export const LAYOUT = { GEN, DONE, READY, TASK_GEN, DONE_GEN, FAILED, KERNEL, NARGS, ARGS, ERR, ERR_BYTES } as const;
export const KERNEL_NAMES = ["matmul", "matmul_dx", "matmul_dw", "attn_fwd", "attn_bwd", "lora_rows_t"] as const; // lora_rows_t: lora-kernel.wasm
export type KernelName = (typeof KERNEL_NAMES)[number];

/** What a worker is given (workerData). */
export interface WorkerInit {
  memory: WebAssembly.Memory;
  wasm: Uint8Array<ArrayBuffer>;
  loraWasm: Uint8Array<ArrayBuffer> | null; // lora-kernel.wasm, instantiated beside kernels.wasm (null: no lora_rows_t)
  ctl: number; // byte offset of the control block
  slot: number; // int32 index of this worker's slot
}

export interface PoolOptions {
  memory: WebAssembly.Memory;
  wasm: Uint8Array<ArrayBuffer>;
  loraWasm?: Uint8Array<ArrayBuffer> | null;
  ctl: Int32Array; // the control block: HEAD + maxWorkers · SLOT_INTS int32s in the heap
  workers: number; // threads besides the main one
  timeoutMs: number; // how long a call waits for a worker's slice before giving it up
}

/** Ints of control block a pool of n workers needs. */
export function controlInts(n: number): number {
  return HEAD + n * SLOT_INTS;
}

// What the calling thread does while it waits for workers' slices, instead of only sleeping
// (the serving backend: settle the adapter reads that have come back, and parse them, in time
// the thread would otherwise spend idle inside a forward step). One per thread: see setWaitHook.
let waitHook: ((done: () => boolean) => void) | null = null;
let inWaitHook = false;

/**
 * Set what this thread runs once per threaded kernel call while a worker's slice is still
 * running (null: nothing); returns the hook it replaces. The hook is given `done()`, true once
 * every worker has finished, and should return soon after (the call's result waits for it).
 * NOTE: it runs in the middle of a kernel call: it must not run kernels through this pool, nor
 * touch heap memory the call in progress reads or writes. Placing an adapter into a block no
 * step uses (adapter-cache.ts #finishEarly, whose place() rounds to bf16 with the Bᵀ kernel's
 * f32_to_bf16 on this thread, in a region of its own) is within that.
 * An error it throws fails that call (after the slices are done), as a slice's would.
 */
export function setWaitHook(hook: ((done: () => boolean) => void) | null): ((done: () => boolean) => void) | null {
  const prev = waitHook;
  waitHook = hook;
  return prev;
}

/** A fixed set of kernel workers on the shared heap; run() is synchronous, like the kernels. */
export class KernelPool {
  readonly size: number;
  timeoutMs: number; // how long a call waits for a worker's slice
  #o: PoolOptions;
  #workers: Array<Worker | null>;
  #dead = new Set<number>(); // slots given up on (replacement spawning)
  #closed = false;

  constructor(o: PoolOptions) {
    this.#o = o;
    this.size = o.workers;
    this.timeoutMs = o.timeoutMs;
    this.#workers = Array.from({ length: o.workers }, () => null);
    for (let i = 0; i < o.workers; i++) this.#spawn(i);
  }

  #slot(i: number): number {
    return HEAD + i * SLOT_INTS;
  }

  #spawn(i: number): void {
    const ctl = this.#o.ctl, s = this.#slot(i);
    Atomics.store(ctl, s + READY, 0);
    const init: WorkerInit = { memory: this.#o.memory, wasm: this.#o.wasm, loraWasm: this.#o.loraWasm ?? null, ctl: ctl.byteOffset, slot: s };
    const w = new Worker(new URL("./worker.ts", import.meta.url), { workerData: init });
    w.unref(); // idle kernel workers never keep the process alive
    w.on("error", () => {}); // an uncaught error ends the worker: 'exit' follows and replaces it
    w.on("exit", () => {
      if (this.#workers[i] !== w) return; // an old worker already replaced
      this.#workers[i] = null;
      Atomics.store(ctl, s + READY, 0);
      if (!this.#closed) this.#spawn(i);
    });
    this.#workers[i] = w;
    this.#dead.delete(i);
  }

  /** Workers ready to take a slice now (instantiated, not given up on). */
  ready(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.#workers[i] && !this.#dead.has(i) && Atomics.load(this.#o.ctl, this.#slot(i) + READY) === 1) out.push(i);
    return out;
  }

  /** Resolves once every worker is instantiated (or after timeoutMs): for tests and warm-up. */
  async whenReady(timeoutMs = 10_000): Promise<void> {
    const t0 = Date.now();
    while (this.ready().length < this.size && Date.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * Run slices[0] on this thread (through `local`) and slices[k] on ready worker k−1, at once;
   * returns when all are done. At most 1 + ready().length slices. Throws KernelThreadError when
   * a worker's slice threw or it did not finish within timeoutMs (the worker is replaced).
   */
  run(kernel: KernelName | -1, slices: number[][], local: (args: number[]) => void): void {
    const ctl = this.#o.ctl, workers = this.ready();
    if (slices.length - 1 > workers.length) throw new RangeError(`${slices.length} slices for ${workers.length} ready workers and this thread`);
    const id = kernel === -1 ? -1 : KERNEL_NAMES.indexOf(kernel);
    const gen = (Atomics.load(ctl, GEN) + 1) | 0;
    const used = workers.slice(0, slices.length - 1);
    used.forEach((w, k) => {
      const s = this.#slot(w), args = slices[k + 1]!;
      if (args.length > MAX_ARGS) throw new RangeError(`${args.length} kernel arguments, at most ${MAX_ARGS}`);
      ctl[s + KERNEL] = id;
      ctl[s + NARGS] = args.length;
      for (let a = 0; a < args.length; a++) ctl[s + ARGS + a] = args[a]!;
      ctl[s + FAILED] = 0;
      Atomics.store(ctl, s + TASK_GEN, gen);
    });
    Atomics.store(ctl, GEN, gen);
    Atomics.notify(ctl, GEN);
    let localError: unknown = null;
    try {
      if (slices[0]) local(slices[0]);
    } catch (e) {
      localError = e; // still wait for the workers: they write into the same output
    }
    const done = () => used.every((w) => Atomics.load(ctl, this.#slot(w) + DONE_GEN) === gen);
    if (waitHook && !inWaitHook && !done()) {
      inWaitHook = true;
      try {
        waitHook(done);
      } catch (e) {
        localError ??= e; // after the workers, like a local slice's error
      } finally {
        inWaitHook = false;
      }
    }
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      const signal = Atomics.load(ctl, DONE);
      const pending = used.filter((w) => Atomics.load(ctl, this.#slot(w) + DONE_GEN) !== gen);
      if (pending.length === 0) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        for (const w of pending) this.#giveUp(w);
        throw new KernelThreadError(`kernel ${kernel === -1 ? "exit" : kernel}: worker${pending.length > 1 ? "s" : ""} ${pending.join(", ")} did not finish within ${this.timeoutMs} ms; replaced`);
      }
      Atomics.wait(ctl, DONE, signal, Math.min(left, 50));
    }
    if (localError) throw localError;
    const failed = used.filter((w) => ctl[this.#slot(w) + FAILED] === 1);
    if (failed.length) {
      const s = this.#slot(failed[0]!);
      const bytes = new Uint8Array(ctl.buffer, ctl.byteOffset + (s + ERR) * 4, ERR_BYTES);
      const msg = new TextDecoder().decode(bytes.slice(0, Math.max(0, bytes.indexOf(0)) || ERR_BYTES));
      throw new KernelThreadError(`kernel ${kernel}: worker ${failed[0]} failed: ${msg}`);
    }
  }

  /** Stop counting on worker i: terminate it; its 'exit' spawns the replacement. */
  #giveUp(i: number): void {
    this.#dead.add(i);
    const w = this.#workers[i];
    if (w) void w.terminate();
    else this.#spawn(i);
  }

  /** Terminate every worker (no replacements). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w?.terminate()));
  }
}
