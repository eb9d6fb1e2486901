// Tiered adapter cache for serving: memory (byte budget, LRU eviction, pinning) ← local disk
// (PEFT directories) ← blob store. Concurrent requests for the same cold adapter share one
// load. Adapters in use are pinned and never evicted; when the budget is full of pinned
// adapters, acquire() waits for a release instead of exceeding the budget.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import { loraBytes, type LoraAdapter } from "./lora.ts";
import type { Config } from "./model.ts";
import { parseAdapter } from "./peft.ts";

export interface AdapterCacheOptions {
  model: Config; // adapters are checked against this base
  budgetBytes: number; // resident adapter weights may not exceed this
  diskDir: string; // local tier: <diskDir>/<id>/adapter_{config.json,model.safetensors}
  blobs?: Pick<BlobStore, "get"> | null; // remote tier
  blobPrefix?: string; // blob keys: <prefix><id>/adapter_config.json, ...
}

/** Raised for an unknown adapter, a bad id, or one larger than the whole budget. */
export class AdapterCacheError extends Error {
  override name = "AdapterCacheError";
  readonly code: "adapter_not_found" | "invalid_adapter_id" | "adapter_too_large";
  constructor(code: AdapterCacheError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

interface Entry { adapter: LoraAdapter; bytes: number; pins: number }

/** A pinned adapter; call release() when the request using it is done. */
export interface AdapterLease {
  adapter: LoraAdapter;
  release(): void;
}

const BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class AdapterCache {
  readonly opts: Required<AdapterCacheOptions>;
  #mem = new Map<string, Entry>(); // insertion order = LRU order (oldest first)
  #loading = new Map<string, Promise<LoraAdapter>>();
  #waiters: Array<() => void> = [];
  #resident = 0;
  #latencies: number[] = [];
  readonly metrics = { hits: 0, misses: 0, diskLoads: 0, blobLoads: 0, evictions: 0, loadLatencyBuckets: BUCKETS_MS.map((le) => ({ le, count: 0 })).concat([{ le: Infinity, count: 0 }]) };

  constructor(opts: AdapterCacheOptions) {
    if (!(opts.budgetBytes > 0)) throw new RangeError("budgetBytes must be > 0");
    this.opts = { blobs: null, blobPrefix: "adapters/", ...opts };
    mkdirSync(opts.diskDir, { recursive: true });
  }

  get residentBytes(): number { return this.#resident; }
  get residentCount(): number { return this.#mem.size; }

  /** Pin an adapter in memory, loading it from disk or the blob store on a miss. */
  async acquire(id: string): Promise<AdapterLease> {
    if (!ID.test(id)) throw new AdapterCacheError("invalid_adapter_id", `adapter id ${JSON.stringify(id)} must match ${ID}`);
    for (;;) {
      const e = this.#mem.get(id);
      if (e) {
        this.metrics.hits++;
        return this.#pin(id, e);
      }
      this.metrics.misses++;
      let p = this.#loading.get(id);
      if (!p) {
        p = this.#load(id).finally(() => this.#loading.delete(id));
        this.#loading.set(id, p);
      }
      const adapter = await p;
      const again = this.#mem.get(id);
      if (again) return this.#pin(id, again);
      const bytes = loraBytes(adapter);
      if (bytes > this.opts.budgetBytes) throw new AdapterCacheError("adapter_too_large", `adapter ${id} needs ${bytes} bytes, the budget is ${this.opts.budgetBytes}`);
      if (this.#makeRoom(bytes)) {
        const entry = { adapter, bytes, pins: 0 };
        this.#mem.set(id, entry);
        this.#resident += bytes;
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

  #pin(id: string, e: Entry): AdapterLease {
    e.pins++;
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
      this.#resident -= e.bytes;
      this.metrics.evictions++;
      if (this.#resident + bytes <= this.opts.budgetBytes) return true;
    }
    return false;
  }

  async #load(id: string): Promise<LoraAdapter> {
    const t0 = performance.now();
    const dir = join(this.opts.diskDir, id);
    const cfgPath = join(dir, "adapter_config.json"), wPath = join(dir, "adapter_model.safetensors");
    if (!existsSync(cfgPath) || !existsSync(wPath)) {
      const b = this.opts.blobs;
      const key = `${this.opts.blobPrefix}${id}/`;
      const [cfg, w] = b ? await Promise.all([b.get(key + "adapter_config.json"), b.get(key + "adapter_model.safetensors")]) : [undefined, undefined];
      if (!cfg || !w) throw new AdapterCacheError("adapter_not_found", `adapter ${id} is neither on disk nor in the blob store`);
      const [cfgBytes, wBytes] = await Promise.all([readAll(cfg), readAll(w)]);
      parseAdapter(id, new TextDecoder().decode(cfgBytes), wBytes, this.opts.model); // validate before caching on disk
      mkdirSync(dir, { recursive: true });
      writeFileSync(wPath + ".tmp", wBytes);
      renameSync(wPath + ".tmp", wPath);
      writeFileSync(cfgPath + ".tmp", cfgBytes);
      renameSync(cfgPath + ".tmp", cfgPath);
      this.metrics.blobLoads++;
    } else this.metrics.diskLoads++;
    const adapter = parseAdapter(id, readFileSync(cfgPath, "utf8"), readFileSync(wPath), this.opts.model);
    const ms = performance.now() - t0;
    this.#latencies.push(ms);
    if (this.#latencies.length > 100_000) this.#latencies.splice(0, 50_000);
    const bucket = this.metrics.loadLatencyBuckets.find((b) => ms <= b.le)!;
    bucket.count++;
    return adapter;
  }
}

async function readAll(r: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return new Uint8Array(Buffer.concat(chunks));
}
