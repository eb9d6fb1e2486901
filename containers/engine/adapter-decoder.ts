// Reads and parses adapter files for the AdapterCache. On a serving process the event loop is
// busy with forward steps, and an async readFile takes several loop turns (open, stat, read,
// close), each waiting behind the step in progress: four steps of latency for one cold load.
// So while steps run, the reads go to one worker thread (adapter-load-worker.ts), which reads
// with plain synchronous calls and sends the bytes back in one message: one turn. Reads asked
// for in the same turn go to it as one batch and come back as one message.
// Parsing runs here, on the serving thread, as the reply is handled: the matrices become views of
// the bytes read (nothing is copied), and a file laid out like one parsed before skips even the
// header (peft.ts; about 17 µs for the tiny model's adapters). With `pack` the worker also makes
// the adapter's kernel-heap block (its own parse of the bytes, packed and rounded to the heap's
// dtype) and sends it beside the files, so that placing it here is one copy (AdapterSlots
// placePacked) instead of packing and rounding on the thread that runs the steps. A
// weights file above parseOnWorkerAboveBytes is the exception: the worker parses it (a large
// model's header of hundreds of tensors, a copy where its data is not aligned). On an idle thread (no
// step running) an async read is quicker than a hop to the worker, so the cache asks per load
// which way to read.
// When the worker cannot be started, the reads run here with async I/O: slower under load, the
// same answer. A read that has not finished after readTimeoutMs (a hung file system, a FIFO
// where a file should be) fails as `io`, so its call gets an answer instead of waiting for
// ever; a worker stuck on such a read is retired, since every read queued behind it would wait
// too, and the next read starts a new one. A stuck thread cannot be stopped (it is blocked in a
// system call), so after MAX_STUCK of them the reads stay here; a worker that crashed after
// answering is replaced too, one that never answered once is not (it cannot start).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import type { AdapterDtype } from "./kernels/adapter-slots.ts";
import type { LoraAdapter } from "./lora.ts";
import type { Config } from "./model.ts";
import { parseAdapter } from "./peft.ts";
import type { ReadReply, ReadRequest } from "./adapter-load-worker.ts";

/** Files that do not parse as a LoRA for this model (`corrupt`), or a read that failed (`io`). */
export class AdapterDecodeError extends Error {
  override name = "AdapterDecodeError";
  readonly kind: "corrupt" | "io";
  constructor(kind: AdapterDecodeError["kind"], message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Where one cold load's time went (ms): for the load-latency breakdown in bench/serve.ts. */
export interface DecodeTrace {
  where: "worker" | "inline";
  waitMs: number; // asked → the worker began reading (batching, the message, the thread's wake-up)
  readMs: number; // reading the two files (worker: its synchronous reads, and the parse of a large file; inline: the async reads)
  returnMs: number; // the worker done → its reply handled on this thread (waits for the step in progress)
  parseMs: number; // header, checks, tensors (this thread; 0 when the worker parsed)
  handledAt: number; // when this thread took the files in hand (performance.now() ms): returnMs ends here
}

type Files = { config: string; weights: Uint8Array };
// what a read gives: the files' bytes (null: not on disk), or the adapter already parsed (by
// the worker, a large file; or here, as its reply was handled: `parsed` then has that parse's time)
// `block`: the adapter's kernel-heap block, packed by the worker (the decoder's `pack`), or null
type Got = { files: Files | null; adapter?: LoraAdapter; block?: Uint8Array | null; parsed?: { parseMs: number; handledAt: number }; trace: Omit<DecodeTrace, "parseMs" | "handledAt"> };
// `parse`: run on the reply's files as soon as the reply is handled (a throw rejects the read);
// `ready`: given the adapter right then, before the read's promise settles (see read)
type Ready = (adapter: LoraAdapter, trace: DecodeTrace, block: Uint8Array | null) => void;
/** What a read gives: the adapter, and its kernel-heap block when the worker packed one (AdapterSlots.placePacked). */
export interface Decoded { adapter: LoraAdapter; block: Uint8Array | null }
type Pending = { dir: string; askedAt: number; timeoutMs: number; parse: (f: Files) => LoraAdapter; ready: Ready | undefined; resolve: (g: Got) => void; reject: (e: Error) => void };

/** Weights files larger than this are parsed on the worker too (default; see the constructor). */
export const PARSE_ON_WORKER_ABOVE_BYTES = 8 * 2 ** 20;
/** A read not done after this long fails (default; a local read of even a large adapter takes well under a second). */
export const READ_TIMEOUT_MS = 10_000;

// One worker for the whole thread, shared by every decoder (and so by every AdapterCache): it
// starts on the first read sent to it, and holds the process open only while a read is due.
const pool = {
  worker: null as Worker | null,
  replies: null as MessagePort | null, // the worker answers here (see drainReadReplies)
  failed: false, // no worker can be had: read on this thread from now on
  answered: false, // the current worker has answered a batch (it works)
  stuck: 0, // workers retired blocked in a read (their threads live on)
  started: 0, // workers started (the first, and each replacement)
  pending: new Map<number, Pending>(),
  queued: [] as ReadRequest["batch"], // asked this turn, not yet posted
  seq: 0,
};
/** Workers left blocked in a read that never returned, at most; after that reads run here. */
export const MAX_STUCK = 3;
const clock = () => performance.timeOrigin + performance.now();

/** Messages sent to the worker and the reads they carried (since the process started). */
export const workerReads = { batches: 0, reads: 0, get workersStarted() { return pool.started; } };

export class AdapterDecoder {
  readonly #model: Config;
  readonly #useWorker: boolean | (() => boolean);
  readonly #parseAbove: number;
  readonly #timeoutMs: number;
  readonly #pack: AdapterDtype | null;

  /**
   * `worker: false` reads on the calling thread (what the benchmark compares against); a
   * function decides per read (the serving backend: the worker only while forward steps run).
   * `parseOnWorkerAboveBytes`: a weights file read on the worker and larger than this is parsed
   * there as well (for the tiny model's 86 KB adapters a parse here costs tens of µs, less than
   * a kernel worker's lost core; a large model's adapter, with its hundreds of tensors, is
   * better checked off this thread). `readTimeoutMs`: a read not done by then fails
   * as `io` (see the top of this file). `pack`: the dtype of the caller's kernel-heap blocks: a
   * small file read on the worker also comes with its block's bytes made there (AdapterSlots
   * packBlock), so placing it here is one copy instead of packing and rounding on this thread;
   * null (default): not made.
   */
  constructor(model: Config, opts: { worker?: boolean | (() => boolean); parseOnWorkerAboveBytes?: number; readTimeoutMs?: number; pack?: AdapterDtype | null } = {}) {
    this.#model = model;
    this.#useWorker = opts.worker ?? true;
    this.#parseAbove = opts.parseOnWorkerAboveBytes ?? PARSE_ON_WORKER_ABOVE_BYTES;
    this.#timeoutMs = opts.readTimeoutMs ?? READ_TIMEOUT_MS;
    this.#pack = opts.pack ?? null;
  }

  /** Whether reads can go to the worker thread (false: configured off, or it failed). */
  get onWorker(): boolean { return this.#useWorker !== false && !pool.failed; }

  /**
   * Read and parse the PEFT directory `dir`; null when its files are not there. `ready`: for a
   * read done on the worker, called with the adapter (and the trace) synchronously the moment
   * its reply is handled and parsed, which can be inside a forward step (the kernel pool's wait
   * hook), before the returned promise settles: for a caller that can finish the load right
   * there (the AdapterCache, when that cannot disturb the step). An error it throws fails the read.
   */
  async read(id: string, dir: string, trace?: (t: DecodeTrace) => void, ready?: Ready): Promise<Decoded | null> {
    const use = typeof this.#useWorker === "function" ? this.#useWorker() : this.#useWorker;
    // a worker's reply is parsed the moment it is handled, wherever that is (see settle)
    const parse = (f: Files) => this.#parse(id, f.config, f.weights);
    const got = use && !pool.failed && startWorker() ? await viaWorker(dir, { id, model: this.#model, parseAbove: this.#parseAbove, pack: this.#pack }, this.#timeoutMs, parse, ready) : await readHere(dir, this.#timeoutMs);
    const { files, trace: t } = got;
    const t0 = performance.now();
    if (got.adapter) {
      // parsed when its reply was handled, or on the worker (a large file: part of readMs)
      trace?.({ ...t, parseMs: got.parsed?.parseMs ?? 0, handledAt: got.parsed?.handledAt ?? t0 });
      return { adapter: got.adapter, block: got.block ?? null };
    }
    if (!files) return null;
    const adapter = this.#parse(id, files.config, files.weights);
    trace?.({ ...t, parseMs: performance.now() - t0, handledAt: t0 });
    return { adapter, block: null };
  }

  /** Parse the two files' bytes (from the blob store). */
  async parse(id: string, config: Uint8Array, weights: Uint8Array): Promise<LoraAdapter> {
    return this.#parse(id, new TextDecoder().decode(config), weights);
  }

  #parse(id: string, config: string, weights: Uint8Array): LoraAdapter {
    try {
      // the bytes were read (or fetched) for this parse alone: the matrices can be views of them
      return parseAdapter(id, config, weights, this.#model, { adopt: true });
    } catch (e) {
      throw new AdapterDecodeError("corrupt", (e as Error).message);
    }
  }
}

function viaWorker(dir: string, req: { id: string; model: Config; parseAbove: number; pack: AdapterDtype | null }, timeoutMs: number, parse: (f: Files) => LoraAdapter, ready: Ready | undefined): Promise<Got> {
  const seq = ++pool.seq;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => stuck(seq), timeoutMs);
    timer.unref();
    const done = () => clearTimeout(timer);
    pool.pending.set(seq, { dir, askedAt: clock(), timeoutMs, parse, ready, resolve: (g) => (done(), resolve(g)), reject: (e) => (done(), reject(e)) });
    pool.queued.push({ seq, dir, ...req });
    // every read asked for in this turn goes in one message, posted once the turn's code is done
    if (pool.queued.length === 1) queueMicrotask(flush);
  });
}

function flush(): void {
  const batch = pool.queued.splice(0);
  const w = pool.worker;
  if (!batch.length || !w) return; // a worker that died meanwhile has re-run these here (die)
  w.ref(); // until every read is answered (settle unrefs)
  pool.replies?.ref();
  workerReads.batches++;
  workerReads.reads += batch.length;
  w.postMessage({ batch } satisfies ReadRequest);
}

function startWorker(): Worker | null {
  if (pool.worker) return pool.worker;
  try {
    const { port1, port2 } = new MessageChannel();
    const w = new Worker(new URL("./adapter-load-worker.ts", import.meta.url), { workerData: { replies: port2 }, transferList: [port2] });
    w.unref();
    port1.on("message", settle);
    port1.unref(); // like the worker: holds the process open only while a read is due
    pool.replies = port1;
    w.on("error", (e) => die(w, e));
    w.on("exit", (code) => die(w, new Error(`exited with code ${code}`)));
    pool.started++;
    return (pool.worker = w);
  } catch (e) {
    pool.failed = true;
    process.emitWarning(`adapter decoder: no worker thread (${(e as Error).message}); reading on the serving thread`, { code: "ADAPTER_DECODER_INLINE" });
    return null;
  }
}

function settle(reply: ReadReply): number {
  const now = clock();
  pool.answered = true;
  let n = 0;
  for (const r of reply.batch) {
    const p = pool.pending.get(r.seq);
    if (!p) continue;
    pool.pending.delete(r.seq);
    n++;
    const trace = { where: "worker" as const, waitMs: reply.startedAt - p.askedAt, readMs: reply.doneAt - reply.startedAt, returnMs: now - reply.doneAt };
    if (!r.ok) p.reject(new AdapterDecodeError(r.kind, r.message));
    else if (!("adapter" in r) && !r.files) p.resolve({ files: null, trace });
    else {
      // parsed here and now (unless the worker did): when the reply is handled inside a forward
      // step (the kernel pool's wait hook) the parse takes time this thread would have spent
      // waiting for a slice, and the caller's `ready` can finish the load right there
      const handledAt = performance.now();
      let adapter: LoraAdapter, parsed: { parseMs: number; handledAt: number };
      const block = "block" in r ? (r.block ?? null) : null;
      try {
        adapter = "adapter" in r ? r.adapter : p.parse(r.files!);
        parsed = { parseMs: "adapter" in r ? 0 : performance.now() - handledAt, handledAt };
        p.ready?.(adapter, { ...trace, ...parsed }, block);
      } catch (e) {
        p.reject(e as Error);
        continue;
      }
      p.resolve({ files: null, adapter, block, parsed, trace });
    }
  }
  if (pool.pending.size === 0) {
    pool.worker?.unref();
    pool.replies?.unref();
  }
  return n;
}

/**
 * Settle, now, the reads whose replies have arrived but wait for this thread's next turn to be
 * handled, parsing their files. The serving backend calls it right before each forward step, in
 * a turn of its own (the loads' continuations run in the microtasks after it), so a call whose
 * adapter arrived while this thread was busy with other callbacks joins that step instead of
 * the next one; right after each step; and inside steps, while this thread waits for a kernel
 * worker's slice (KernelPool's wait hook), with `until` = that slice done: it stops at the first
 * reply handled after `until()` turns true. Returns how many reads it settled.
 */
export function drainReadReplies(until?: () => boolean): number {
  const port = pool.replies;
  if (!port || pool.pending.size === 0) return 0;
  let n = 0;
  for (let m = receiveMessageOnPort(port); m; m = until?.() ? undefined : receiveMessageOnPort(port)) n += settle(m.message as ReadReply);
  return n;
}

// a read the worker has not answered in time fails; the worker is stuck in it (a synchronous
// read does not time out), so it is retired: the reads queued behind it run on this thread, and
// the next read starts another worker (up to MAX_STUCK stuck ones)
function stuck(seq: number): void {
  const p = pool.pending.get(seq), w = pool.worker;
  if (!p || !w) return;
  pool.pending.delete(seq);
  p.reject(new AdapterDecodeError("io", `reading ${p.dir} did not finish within ${p.timeoutMs} ms`));
  die(w, new Error(`a read did not finish within ${p.timeoutMs} ms`), true);
  w.unref(); // a thread blocked in a system call cannot be stopped; it must not hold the process open
  w.terminate().catch(() => {});
}

// a dead or stuck worker's reads are done again on this thread; later ones go to a new worker
// unless this one never worked (it cannot start) or too many are stuck already
function die(w: Worker, e: Error, wasStuck = false): void {
  if (pool.worker !== w) return;
  pool.worker = null;
  pool.replies?.close();
  pool.replies = null;
  if (wasStuck) pool.stuck++;
  const replace = wasStuck ? pool.stuck < MAX_STUCK : pool.answered;
  pool.answered = false;
  if (!replace) pool.failed = true;
  process.emitWarning(`adapter decoder worker ${wasStuck ? "retired" : "failed"} (${e.message}); ${replace ? "the next read starts another" : "reading on the serving thread"}`, { code: "ADAPTER_DECODER_INLINE" });
  const all = [...pool.pending.values()];
  pool.pending.clear();
  pool.queued = [];
  for (const p of all) readHere(p.dir, p.timeoutMs).then(p.resolve, p.reject);
}

// the same reads on this thread, async, given up after timeoutMs (the reads themselves cannot be
// cancelled while blocked: an abort signal is only looked at between reads)
async function readHere(dir: string, timeoutMs: number): Promise<Got> {
  const t0 = performance.now();
  let files: Files;
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AdapterDecodeError("io", `reading ${dir} did not finish within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
    });
    const [config, weights] = await Promise.race([Promise.all([readFile(join(dir, "adapter_config.json"), "utf8"), readFile(join(dir, "adapter_model.safetensors"))]), late]);
    files = { config, weights };
  } catch (e) {
    if (e instanceof AdapterDecodeError) throw e;
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { files: null, trace: { where: "inline", waitMs: 0, readMs: performance.now() - t0, returnMs: 0 } };
    throw new AdapterDecodeError("io", (e as Error).message);
  } finally {
    clearTimeout(timer);
  }
  return { files, trace: { where: "inline", waitMs: 0, readMs: performance.now() - t0, returnMs: 0 } };
}
