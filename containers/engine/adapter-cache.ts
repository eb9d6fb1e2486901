// Tiered adapter cache for serving: memory (byte budget, LRU eviction, pinning) ← local disk
// (PEFT directories) ← blob store. Concurrent requests for the same cold adapter share one
// load. Adapters in use are pinned and never evicted; when the budget is full of pinned
// adapters, acquire() waits for a release instead of exceeding the budget.
// All file I/O is asynchronous: the cache runs inside the serving process, where a synchronous
// read would stall every running stream for its duration.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import { AdapterDecodeError, AdapterDecoder, PARSE_ON_WORKER_ABOVE_BYTES, READ_TIMEOUT_MS, type DecodeTrace, type Decoded } from "./adapter-decoder.ts";
import { AdapterSlots } from "./kernels/adapter-slots.ts";
import { adapterDtype } from "./kernels/lora-kernel.ts";
import { loraBytes, type LoraAdapter } from "./lora.ts";
import type { Config } from "./model.ts";

export interface AdapterCacheOptions {
  model: Config; // adapters are checked against this base
  budgetBytes: number; // resident adapter weights may not exceed this
  diskDir: string; // local tier: <diskDir>/<id>/adapter_{config.json,model.safetensors}
  blobs?: Pick<BlobStore, "get"> | null; // remote tier
  blobPrefix?: string; // blob keys: <prefix><id>/adapter_config.json, ...
  // blob keys of an adapter's files when they are not under blobPrefix (e.g. a job's output
  // prefix named by the adapter record); undefined = the adapter is unknown
  blobKeys?: ((id: string) => Promise<{ config: string; weights: string } | undefined>) | null;
  // observers for a metrics exporter: each finished cold load (ms, which tier it came from, and
  // for a disk load where its time went), each eviction
  onLoad?: ((id: string, ms: number, tier: "disk" | "blob", trace?: LoadTrace) => void) | null;
  onEvict?: ((id: string) => void) | null;
  // keep resident adapters' matrices in the kernel heap, so the batched LoRA kernel reads them
  // in place instead of copying them per call (default true; false: they stay ordinary arrays)
  kernelResident?: boolean;
  // read adapter files on a worker thread (default true), so a cold load does not wait behind
  // forward steps for each file operation; false: async reads on this thread (a function:
  // asked per load, e.g. "only while forward steps run"). Parsing runs on this thread, except
  // a large weights file read on the worker (parseOnWorkerAboveBytes); a blob's files always here.
  decodeOnWorker?: boolean | (() => boolean);
  // a weights file read on the worker and larger than this (bytes) is parsed there too
  // (default 8 MiB: a large model's adapter, its header of hundreds of tensors checked off
  // this thread)
  parseOnWorkerAboveBytes?: number;
  // with kernelResident, a file read on the worker comes with its kernel-heap block's bytes made
  // there (packed in the kernel's layout, rounded to its dtype), so placing it on this thread is
  // one copy instead of packing and rounding here (about 0.1 ms a load of the tiny model's
  // adapters). Default false: on the 2-core host it cost cold calls a step (the worker's longer
  // work lands its reply inside the next step: cold-load p50 about 2 -> 7 ms in 3 of 3 A/B
  // pairs, docs/benchmarks.md, Serving, sixth round) for no throughput gain
  packOnWorker?: boolean;
  // a disk read not done after this long (ms) fails the load as adapter_unavailable instead of
  // leaving its calls waiting (default 10 s: a hung file system, not a slow read)
  readTimeoutMs?: number;
  // a blob fetch (both files, to their last byte) not done after this long fails the load as
  // adapter_unavailable (default 30 s: a store that accepted the request and went quiet)
  fetchTimeoutMs?: number;
}

/**
 * Raised for an unknown adapter, a bad id, one larger than the whole budget, files that do not
 * parse as a PEFT LoRA for this model (`adapter_corrupt`), or a blob store or disk read that
 * failed (`adapter_unavailable`: a later acquire tries again).
 */
export class AdapterCacheError extends Error {
  override name = "AdapterCacheError";
  readonly code: "adapter_not_found" | "invalid_adapter_id" | "adapter_too_large" | "adapter_corrupt" | "adapter_unavailable";
  constructor(code: AdapterCacheError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

interface Entry { adapter: LoraAdapter; bytes: number; pins: number }

// a cold load's result, shared by every acquire that waited for it
// (`block`: its kernel-heap block as the read worker packed it, until it is placed)
interface Loaded { adapter: LoraAdapter; block: Uint8Array | null; t0: number; tier: "disk" | "blob"; trace: DecodeTrace | undefined }

/** A disk load's time, ms: the decoder's phases, then moving it into the kernel heap. */
export interface LoadTrace extends DecodeTrace { placeMs: number }

/**
 * A pinned adapter; call release() when the request using it is done.
 * WARNING: once released the adapter may be evicted at any time, and an evicted adapter that
 * was in the kernel heap is discarded: any later use of it throws AdapterDiscardedError.
 */
export interface AdapterLease {
  adapter: LoraAdapter;
  release(): void;
}

const BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
/** A blob fetch not done after this long fails (default of fetchTimeoutMs). */
export const FETCH_TIMEOUT_MS = 30_000;
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class AdapterCache {
  readonly opts: Required<AdapterCacheOptions>;
  #mem = new Map<string, Entry>(); // insertion order = LRU order (oldest first)
  #loading = new Map<string, Promise<Loaded>>();
  #waiters: Array<() => void> = [];
  // loads finished the moment their worker reply was handled (#finishEarly), each entry pinned
  // once for the acquire that awaits the load: that acquire takes the pin over
  #early = new Map<string, Entry>();
  #resident = 0;
  #latencies: number[] = [];
  #warnedDisk = false; // a local copy failed to be written (warned once)
  // a quarter over the budget at the kernel's dtype (0.625 × the budget in bf16, whose blocks are half
  // an adapter's f32 bytes): blocks are freed and reused, and the spare quarter absorbs
  // fragmentation when adapters of different sizes come and go
  readonly #slots: AdapterSlots | null;
  readonly #decoder: AdapterDecoder;
  // finishedOnReply: disk loads finished the moment their worker reply was handled (#finishEarly)
  readonly metrics = { hits: 0, misses: 0, diskLoads: 0, blobLoads: 0, evictions: 0, finishedOnReply: 0, loadLatencyBuckets: BUCKETS_MS.map((le) => ({ le, count: 0 })).concat([{ le: Infinity, count: 0 }]) };

  constructor(opts: AdapterCacheOptions) {
    if (!(opts.budgetBytes > 0)) throw new RangeError("budgetBytes must be > 0");
    this.opts = { blobs: null, blobPrefix: "adapters/", blobKeys: null, onLoad: null, onEvict: null, kernelResident: true, decodeOnWorker: true, parseOnWorkerAboveBytes: PARSE_ON_WORKER_ABOVE_BYTES, packOnWorker: false, readTimeoutMs: READ_TIMEOUT_MS, fetchTimeoutMs: FETCH_TIMEOUT_MS, ...opts };
    // the heap holds each adapter at the kernel's dtype: bf16 blocks take half its bytes
    const dtype = adapterDtype();
    const cap = Math.ceil((opts.budgetBytes * (dtype === "bf16" ? 0.5 : 1) * 1.25) / 16) * 16;
    this.#slots = this.opts.kernelResident ? new AdapterSlots({ capBytes: cap, dtype }) : null;
    this.#decoder = new AdapterDecoder(opts.model, { worker: this.opts.decodeOnWorker, parseOnWorkerAboveBytes: this.opts.parseOnWorkerAboveBytes, readTimeoutMs: this.opts.readTimeoutMs, pack: this.#slots && this.opts.packOnWorker ? this.#slots.dtype : null });
  }

  /** Resident adapters whose matrices are in the kernel heap (the rest are copied per call). */
  get kernelResidentCount(): number { return this.#slots?.count ?? 0; }

  /** Whether cold loads are read and parsed on the decoder's worker thread (false: on this one). */
  get decodesOnWorker(): boolean { return this.#decoder.onWorker; }

  get residentBytes(): number { return this.#resident; }
  get residentCount(): number { return this.#mem.size; }
  get loadingCount(): number { return this.#loading.size; }

  /** Pin an adapter in memory, loading it from disk or the blob store on a miss. */
  async acquire(id: string): Promise<AdapterLease> {
    if (!ID.test(id)) throw new AdapterCacheError("invalid_adapter_id", `adapter id ${JSON.stringify(id)} must match ${ID}`);
    // kept while this acquire waits for room: a release must not cost the adapter a second read
    let loaded: Loaded | undefined;
    for (;;) {
      const e = this.#mem.get(id);
      if (e) {
        if (!loaded) this.metrics.hits++;
        return this.#pin(id, e);
      }
      if (!loaded) {
        this.metrics.misses++;
        let p = this.#loading.get(id);
        if (!p) {
          p = this.#load(id).finally(() => this.#loading.delete(id));
          this.#loading.set(id, p);
        }
        loaded = await p;
        // finished as its reply was handled: resident, its latency recorded, pinned for this acquire
        const held = this.#early.get(id);
        if (held) {
          this.#early.delete(id);
          loaded.block = null; // placed when the reply was handled
          return this.#pin(id, held, true);
        }
      }
      const { adapter } = loaded;
      const again = this.#mem.get(id);
      if (again) return this.#pin(id, again);
      // another acquire of the same load put it in memory, and it was evicted (discarded) before
      // this one resumed: its matrices are gone, so this acquire loads it anew
      if (this.#slots?.discarded(adapter)) {
        loaded = undefined;
        continue;
      }
      const bytes = loraBytes(adapter);
      if (bytes > this.opts.budgetBytes) throw new AdapterCacheError("adapter_too_large", `adapter ${id} needs ${bytes} bytes, the budget is ${this.opts.budgetBytes}`);
      if (this.#makeRoom(bytes)) {
        const entry = { adapter, bytes, pins: 0 };
        const t = performance.now();
        // false (heap full or absent): it serves from its own arrays. Placed, the heap holds
        // copies in the kernel's layout and A and B stay views of the bytes read (nothing more
        // is copied: the file's buffer is what they are)
        this.#place(adapter, loaded.block);
        loaded.block = null; // in the heap now (or never to be): not kept for other acquires of the load
        this.#mem.set(id, entry);
        this.#resident += bytes;
        this.#loaded(id, loaded, performance.now() - t);
        return this.#pin(id, entry);
      }
      await new Promise<void>((r) => this.#waiters.push(r)); // everything resident is pinned: wait for a release
    }
  }

  /** Percentile (0..100) of recorded cold-load latencies in ms. */
  loadLatencyPercentile(p: number): number {
    if (this.#latencies.length === 0) return NaN;
    const s = [...this.#latencies].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  }

  // `held`: the entry is pinned for this lease already (#finishEarly)
  #pin(id: string, e: Entry, held = false): AdapterLease {
    if (!held) e.pins++;
    this.#mem.delete(id); // move to most-recently-used
    this.#mem.set(id, e);
    let released = false;
    return {
      adapter: e.adapter,
      release: () => {
        if (released) return;
        released = true;
        e.pins--;
        const w = this.#waiters.splice(0);
        for (const r of w) r();
      },
    };
  }

  // evict least-recently-used unpinned adapters until `bytes` more fit; false if they cannot
  #makeRoom(bytes: number): boolean {
    if (this.#resident + bytes <= this.opts.budgetBytes) return true;
    for (const [id, e] of this.#mem) {
      if (e.pins > 0) continue;
      this.#mem.delete(id);
      // unpinned: no lease holds it and no step uses it, and the entry is dropped here, so its
      // matrices go with it (nothing copied out of the heap); an acquire that still holds it from
      // its load sees it discarded and loads it again. Its block goes to the next adapter.
      this.#slots?.release(e.adapter, { discard: true });
      this.#resident -= e.bytes;
      this.metrics.evictions++;
      this.opts.onEvict?.(id);
      if (this.#resident + bytes <= this.opts.budgetBytes) return true;
    }
    return false;
  }

  // A disk load read on the worker, finished the moment its reply is handled (and parsed), when
  // that cannot disturb a forward step in progress: that moment can be inside one (the kernel
  // pool's wait hook), so placing must not grow the kernel heap (its new arena would lie where
  // the step's scratch is; once the arenas reach the cap it cannot grow), and what is evicted for
  // room is unpinned, so no step uses it. Otherwise (or with no room: everything pinned) the
  // acquire that awaits the load finishes it afterwards, as before.
  #finishEarly(id: string, adapter: LoraAdapter, t0: number, trace: DecodeTrace, block: Uint8Array | null): void {
    if (this.#mem.has(id) || this.#early.has(id)) return;
    const bytes = loraBytes(adapter);
    if (bytes > this.opts.budgetBytes) return; // the acquire says adapter_too_large
    if (this.#slots?.mayGrow(adapter)) return; // place() could add an arena, mid-step
    if (!this.#makeRoom(bytes)) return;
    const entry = { adapter, bytes, pins: 1 }; // the awaiting acquire's pin: nothing evicts it before that acquire runs
    const t = performance.now();
    this.#place(adapter, block);
    this.#mem.set(id, entry);
    this.#resident += bytes;
    this.#early.set(id, entry);
    this.metrics.finishedOnReply++;
    this.#loaded(id, { adapter, block: null, t0, tier: "disk", trace }, performance.now() - t);
  }

  // into the kernel heap (when there is one and a block to be had): the read worker's packed
  // block copied in when it made one, else packed and rounded here. A block that does not fit
  // the adapter (a RangeError before anything changed: another dtype's) is packed here instead
  // of failing a load whose adapter is in hand.
  #place(adapter: LoraAdapter, block: Uint8Array | null): void {
    if (!this.#slots) return;
    if (block) {
      try {
        this.#slots.placePacked(adapter, block);
        return;
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
      }
    }
    this.#slots.place(adapter);
  }

  // a cold load is done once its adapter is resident (in the kernel heap where there is room):
  // its latency, from the miss to the adapter in hand here, goes to the histogram and observer
  #loaded(id: string, l: Loaded, placeMs: number): void {
    const ms = performance.now() - l.t0;
    this.#latencies.push(ms);
    if (this.#latencies.length > 100_000) this.#latencies.splice(0, 50_000);
    const bucket = this.metrics.loadLatencyBuckets.find((b) => ms <= b.le)!;
    bucket.count++;
    try {
      this.opts.onLoad?.(id, ms, l.tier, l.trace ? { ...l.trace, placeMs } : undefined);
    } catch (e) { // an observer's fault: the load is done and stays so (a throw here would leave a load finished on its reply pinned for good)
      process.emitWarning(`adapter cache: onLoad threw for ${id}: ${e instanceof Error ? e.message : String(e)}`, { code: "ADAPTER_CACHE_ONLOAD" });
    }
  }

  async #load(id: string): Promise<Loaded> {
    const t0 = performance.now();
    const dir = join(this.opts.diskDir, id);
    const cfgPath = join(dir, "adapter_config.json"), wPath = join(dir, "adapter_model.safetensors");
    let trace: DecodeTrace | undefined;
    let adapter: LoraAdapter | null, block: Uint8Array | null = null, localCorrupt: AdapterCacheError | null = null;
    try {
      const got: Decoded | null = await this.#decode(id, () => this.#decoder.read(id, dir, (t) => (trace = t), (a, t, b) => this.#finishEarly(id, a, t0, t, b)));
      adapter = got?.adapter ?? null;
      block = got?.block ?? null;
    } catch (e) {
      // a local copy that does not parse (a torn write, a bad disk) is not the adapter: with a
      // blob store to ask, the store's copy is fetched (once) and replaces it
      if (!(e instanceof AdapterCacheError && e.code === "adapter_corrupt" && this.opts.blobs)) throw e;
      localCorrupt = e;
      adapter = null;
      trace = undefined;
    }
    const tier = adapter ? "disk" : "blob";
    if (adapter) this.metrics.diskLoads++;
    else {
      const files = await this.#fetch(id).catch((e: unknown) => {
        // the store has no copy either: what is wrong is the local one
        throw localCorrupt && e instanceof AdapterCacheError && e.code === "adapter_not_found" ? localCorrupt : e;
      });
      // validate before caching on disk, so a corrupt blob never becomes a local copy
      adapter = (await this.#decode(id, () => this.#decoder.parse(id, files.config, files.weights)))!;
      // the local copy only saves the next cold load a fetch: a disk that is full or broken must
      // not fail a load whose adapter is already in hand (the next miss fetches it again)
      try {
        await mkdir(dir, { recursive: true });
        // weights first, config last: a directory with a config has complete weights (rename is atomic)
        await writeFile(wPath + ".tmp", files.weights);
        await rename(wPath + ".tmp", wPath);
        await writeFile(cfgPath + ".tmp", files.config);
        await rename(cfgPath + ".tmp", cfgPath);
      } catch (e) {
        if (!this.#warnedDisk) process.emitWarning(`adapter cache: no local copy of ${id} (${(e as Error).message}); serving from memory`, { code: "ADAPTER_CACHE_DISK" });
        this.#warnedDisk = true;
      }
      this.metrics.blobLoads++;
    }
    return { adapter, block, t0, tier, trace };
  }

  // files that do not parse become adapter_corrupt; a disk read that failed or hung,
  // adapter_unavailable (a later acquire tries again), so the call gets a 503, not a 500
  async #decode<T>(id: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof AdapterDecodeError && e.kind === "corrupt") throw new AdapterCacheError("adapter_corrupt", `adapter ${id} is not a usable LoRA for this model: ${e.message}`);
      if (e instanceof AdapterDecodeError) throw new AdapterCacheError("adapter_unavailable", `adapter ${id} could not be read from local disk: ${e.message}`);
      throw e;
    }
  }

  // the remote tier: both files from the blob store, or adapter_not_found / adapter_unavailable
  // (a failure, or no answer within fetchTimeoutMs: the streams are then destroyed)
  async #fetch(id: string): Promise<{ config: Uint8Array; weights: Uint8Array }> {
    const b = this.opts.blobs;
    if (!b) throw new AdapterCacheError("adapter_not_found", `adapter ${id} is not on disk and there is no blob store`);
    const streams: Readable[] = [];
    let late = false, timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        late = true;
        for (const r of streams) r.destroy();
        reject(new AdapterCacheError("adapter_unavailable", `adapter ${id} could not be fetched from the blob store: no answer within ${this.opts.fetchTimeoutMs} ms`));
      }, this.opts.fetchTimeoutMs);
      timer.unref();
    });
    const fetchBoth = async () => {
      const prefix = `${this.opts.blobPrefix}${id}/`;
      const keys = this.opts.blobKeys ? await this.opts.blobKeys(id) : { config: prefix + "adapter_config.json", weights: prefix + "adapter_model.safetensors" };
      if (!keys) throw new AdapterCacheError("adapter_not_found", `adapter ${id} is not registered`);
      const got = await Promise.all([b.get(keys.config), b.get(keys.weights)]);
      for (const r of got) if (r) streams.push(r);
      if (late) for (const r of streams) r.destroy(); // answered after the deadline: nobody reads them
      const [cfg, w] = got;
      if (!cfg || !w) {
        cfg?.destroy();
        w?.destroy();
        throw new AdapterCacheError("adapter_not_found", `adapter ${id} is neither on disk nor in the blob store`);
      }
      const [config, weights] = await Promise.all([readAll(cfg), readAll(w)]);
      return { config, weights };
    };
    try {
      return await Promise.race([fetchBoth(), deadline]);
    } catch (e) {
      if (e instanceof AdapterCacheError) throw e;
      throw new AdapterCacheError("adapter_unavailable", `adapter ${id} could not be fetched from the blob store: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function readAll(r: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return new Uint8Array(Buffer.concat(chunks));
}
