// Reads and parses adapter files off the serving thread. On a serving process the event loop
// is busy with forward steps: an async readFile takes several loop turns (open, stat, read,
// close), each waiting behind the step in progress, and the parse then runs on that thread
// too. Here one worker thread does the read and the parse, and the adapter comes back in one
// message with its matrices transferred, so a cold load costs the serving thread one turn.
// When a worker cannot be started (or dies), the same work runs on this thread with async
// reads: slower under load, the same answer.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { LoraAdapter } from "./lora.ts";
import type { Config } from "./model.ts";
import { parseAdapter } from "./peft.ts";
import type { DecodeReply, DecodeRequest } from "./adapter-load-worker.ts";

/** Files that do not parse as a LoRA for this model (`corrupt`), or a read that failed (`io`). */
export class AdapterDecodeError extends Error {
  override name = "AdapterDecodeError";
  readonly kind: "corrupt" | "io";
  constructor(kind: AdapterDecodeError["kind"], message: string) {
    super(message);
    this.kind = kind;
  }
}

type Job = { op: "read"; id: string; dir: string } | { op: "parse"; id: string; config: Uint8Array; weights: Uint8Array };
type Pending = { job: Job; model: Config; resolve: (a: LoraAdapter | null) => void; reject: (e: Error) => void };

// One worker for the whole thread, shared by every decoder (and so by every AdapterCache): it
// starts on the first decode, and holds the process open only while a decode is due.
const pool = {
  worker: null as Worker | null,
  failed: false, // the worker could not start or died: decode on this thread from now on
  pending: new Map<number, Pending>(),
  seq: 0,
};

export class AdapterDecoder {
  readonly #model: Config;
  readonly #useWorker: boolean | (() => boolean);

  /**
   * `worker: false` decodes on the calling thread (what the benchmark compares against); a
   * function decides per decode (the serving backend: the worker only while forward steps run,
   * since on an idle thread the async read is quicker than a hop to another thread).
   */
  constructor(model: Config, opts: { worker?: boolean | (() => boolean) } = {}) {
    this.#model = model;
    this.#useWorker = opts.worker ?? true;
  }

  /** Whether decoding runs on a worker thread now. */
  get onWorker(): boolean { return this.#useWorker !== false && !pool.failed; }

  /** Read and parse the PEFT directory `dir`; null when its files are not there. */
  read(id: string, dir: string): Promise<LoraAdapter | null> {
    return this.#run({ op: "read", id, dir });
  }

  /** Parse the two files' bytes (from the blob store). */
  async parse(id: string, config: Uint8Array, weights: Uint8Array): Promise<LoraAdapter> {
    return (await this.#run({ op: "parse", id, config, weights }))!;
  }

  #run(job: Job): Promise<LoraAdapter | null> {
    const use = typeof this.#useWorker === "function" ? this.#useWorker() : this.#useWorker;
    const w = use && !pool.failed ? startWorker() : null;
    if (!w) return decodeHere(job, this.#model);
    const seq = ++pool.seq;
    return new Promise((resolve, reject) => {
      pool.pending.set(seq, { job, model: this.#model, resolve, reject });
      if (pool.pending.size === 1) w.ref();
      w.postMessage({ seq, model: this.#model, ...job } satisfies DecodeRequest);
    });
  }
}

function startWorker(): Worker | null {
  if (pool.worker) return pool.worker;
  try {
    const w = new Worker(new URL("./adapter-load-worker.ts", import.meta.url));
    w.unref();
    w.on("message", settle);
    w.on("error", (e) => die(w, e));
    w.on("exit", (code) => die(w, new Error(`exited with code ${code}`)));
    return (pool.worker = w);
  } catch (e) {
    pool.failed = true;
    process.emitWarning(`adapter decoder: no worker thread (${(e as Error).message}); decoding on the serving thread`, { code: "ADAPTER_DECODER_INLINE" });
    return null;
  }
}

function settle(reply: DecodeReply): void {
  const p = pool.pending.get(reply.seq);
  if (!p) return;
  pool.pending.delete(reply.seq);
  if (pool.pending.size === 0) pool.worker?.unref();
  if (reply.ok) p.resolve(reply.adapter);
  else p.reject(new AdapterDecodeError(reply.kind, reply.message));
}

// a dead worker's decodes are done again on this thread, and so is everything after
function die(w: Worker, e: Error): void {
  if (pool.worker !== w) return;
  pool.worker = null;
  pool.failed = true;
  process.emitWarning(`adapter decoder worker failed (${e.message}); decoding on the serving thread`, { code: "ADAPTER_DECODER_INLINE" });
  const all = [...pool.pending.values()];
  pool.pending.clear();
  for (const p of all) decodeHere(p.job, p.model).then(p.resolve, p.reject);
}

// the same work on this thread, with async reads
async function decodeHere(job: Job, model: Config): Promise<LoraAdapter | null> {
  let config: Uint8Array, weights: Uint8Array;
  if (job.op === "read") {
    try {
      [config, weights] = await Promise.all([readFile(join(job.dir, "adapter_config.json")), readFile(join(job.dir, "adapter_model.safetensors"))]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new AdapterDecodeError("io", (e as Error).message);
    }
  } else ({ config, weights } = job);
  try {
    return parseAdapter(job.id, new TextDecoder().decode(config), weights, model);
  } catch (e) {
    throw new AdapterDecodeError("corrupt", (e as Error).message);
  }
}
