// Adapter cache: tiers, LRU under a byte budget, pinning, one load for concurrent misses, metrics.
import { afterAll, describe, expect, it, vi } from "vitest";
import { mkdirSync, mkdtempSync as mkdtempOnce, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { AdapterCache, AdapterCacheError } from "./adapter-cache.ts";
import { drainReadReplies, workerReads } from "./adapter-decoder.ts";
import { createLora, loraBytes } from "./lora.ts";
import { parseAdapter, saveAdapter, serializeAdapter } from "./peft.ts";
import { kernelPath } from "./kernels/index.ts";
import { AdapterDiscardedError, AdapterSlots } from "./kernels/adapter-slots.ts";
import { tinyConfig } from "./test-helpers.ts";

// every folder a test makes under the OS temp dir, removed when the file's tests are done
const temps: string[] = [];
const mkdtempSync = (prefix: string) => { const d = mkdtempOnce(prefix); temps.push(d); return d; };
afterAll(() => { for (const d of temps) rmSync(d, { recursive: true, force: true }); });

const cfg = tinyConfig();
const lora = (id: string) => createLora(cfg, { r: 2, alpha: 2, dropout: 0, targets: ["q_proj"] }, { id, seed: id.length });
const SIZE = loraBytes(lora("x"));
// an adapter's matrices as plain numbers (wherever they live: own arrays or the kernel heap)
const values = (a: ReturnType<typeof lora>) => a.layers.map((l) => Object.entries(l).map(([t, p]) => [t, [...p.A], [...p.B]]));

function setup(budgetAdapters: number, onDisk: string[], inBlobs: string[] = []) {
  const disk = mkdtempSync(join(tmpdir(), "engine-cache-"));
  for (const id of onDisk) saveAdapter(join(disk, id), lora(id));
  const blobs = new Map<string, Uint8Array>();
  for (const id of inBlobs) {
    const { config, weights } = serializeAdapter(lora(id));
    blobs.set(`adapters/${id}/adapter_config.json`, new TextEncoder().encode(config));
    blobs.set(`adapters/${id}/adapter_model.safetensors`, weights);
  }
  let blobGets = 0;
  const store = { get: async (k: string) => { blobGets++; await new Promise((r) => setTimeout(r, 5)); const b = blobs.get(k); return b ? Readable.from([Buffer.from(b)]) : undefined; } };
  const cache = new AdapterCache({ model: cfg, budgetBytes: budgetAdapters * SIZE, diskDir: disk, blobs: store });
  return { cache, disk, gets: () => blobGets };
}

describe("AdapterCache", () => {
  it("hits after a disk load and evicts the least recently used under the budget", async () => {
    const { cache } = setup(2, ["a", "b", "c"]);
    (await cache.acquire("a")).release();
    (await cache.acquire("b")).release();
    (await cache.acquire("a")).release(); // a is now most recent
    (await cache.acquire("c")).release(); // evicts b
    expect(cache.metrics).toMatchObject({ hits: 1, misses: 3, diskLoads: 3, evictions: 1 });
    expect(cache.residentBytes).toBe(2 * SIZE);
    (await cache.acquire("a")).release();
    expect(cache.metrics.hits).toBe(2);
    (await cache.acquire("b")).release();
    expect(cache.metrics.diskLoads).toBe(4);
    expect(cache.metrics.loadLatencyBuckets.reduce((s, b) => s + b.count, 0)).toBe(4);
    expect(cache.loadLatencyPercentile(50)).toBeGreaterThan(0);
  });

  it("never evicts a pinned adapter; a request waits for a release instead of exceeding the budget", async () => {
    const { cache } = setup(1, ["a", "b"]);
    const a = await cache.acquire("a");
    let gotB = false;
    const pb = cache.acquire("b").then((l) => ((gotB = true), l));
    await new Promise((r) => setTimeout(r, 20));
    expect(gotB).toBe(false);
    expect(cache.residentBytes).toBeLessThanOrEqual(SIZE);
    a.release();
    const b = await pb;
    expect(b.adapter.id).toBe("b");
    expect(cache.residentBytes).toBe(SIZE);
    expect(cache.metrics).toMatchObject({ misses: 2, diskLoads: 2 }); // the wait did not read b a second time
    b.release();
  });

  it("loads a cold adapter from the blob store once for concurrent requests, then keeps it on disk", async () => {
    const { cache, disk, gets } = setup(4, [], ["remote"]);
    const leases = await Promise.all(Array.from({ length: 10 }, () => cache.acquire("remote")));
    expect(new Set(leases.map((l) => l.adapter)).size).toBe(1);
    expect(gets()).toBe(2); // config + weights, once
    expect(cache.metrics.blobLoads).toBe(1);
    expect(existsSync(join(disk, "remote", "adapter_model.safetensors"))).toBe(true);
    leases.forEach((l) => l.release());
  });

  it("rejects unknown adapters, bad ids and adapters larger than the budget", async () => {
    const { cache } = setup(1, []);
    await expect(cache.acquire("nope")).rejects.toMatchObject({ code: "adapter_not_found" });
    await expect(cache.acquire("../etc")).rejects.toBeInstanceOf(AdapterCacheError);
    const big = setup(1, []);
    saveAdapter(join(big.disk, "big"), createLora(cfg, { r: 8, alpha: 2, dropout: 0, targets: ["q_proj", "v_proj"] }));
    await expect(big.cache.acquire("big")).rejects.toMatchObject({ code: "adapter_too_large" });
  });

  it("answers adapter_corrupt for files that do not parse, and keeps no local copy of a corrupt blob", async () => {
    const { cache, disk } = setup(2, ["good"], []);
    saveAdapter(join(disk, "bad"), lora("bad"));
    writeFileSync(join(disk, "bad", "adapter_model.safetensors"), "not safetensors");
    await expect(cache.acquire("bad")).rejects.toMatchObject({ code: "adapter_corrupt" });
    (await cache.acquire("good")).release(); // others keep loading

    const store = { get: async () => Readable.from([Buffer.from("garbage")]) };
    const remote = new AdapterCache({ model: cfg, budgetBytes: SIZE, diskDir: mkdtempSync(join(tmpdir(), "engine-cache-")), blobs: store });
    await expect(remote.acquire("r")).rejects.toMatchObject({ code: "adapter_corrupt" });
    expect(existsSync(join(remote.opts.diskDir, "r", "adapter_config.json"))).toBe(false);
  });

  it("replaces a local copy that does not parse with the blob store's copy (fetched once), which the next cold load reads from disk", async () => {
    const { cache, disk, gets } = setup(1, ["torn"], ["torn"]);
    writeFileSync(join(disk, "torn", "adapter_model.safetensors"), new Uint8Array(40)); // a torn write
    const lease = await cache.acquire("torn");
    expect(values(lease.adapter)).toEqual(values(lora("torn")));
    expect(gets()).toBe(2); // config and weights, once
    expect(cache.metrics).toMatchObject({ diskLoads: 0, blobLoads: 1 });
    lease.release();
    const again = new AdapterCache({ model: cfg, budgetBytes: SIZE, diskDir: disk }); // no blob store: the disk copy must be good now
    const l2 = await again.acquire("torn");
    expect(values(l2.adapter)).toEqual(values(lora("torn")));
    expect(again.metrics.diskLoads).toBe(1);
    l2.release();
    // the store's copy corrupt too: adapter_corrupt, fetched once more, no loop
    writeFileSync(join(disk, "torn", "adapter_model.safetensors"), new Uint8Array(40));
    const bad = new AdapterCache({ model: cfg, budgetBytes: SIZE, diskDir: disk, blobs: { get: async () => Readable.from([Buffer.from("garbage")]) } });
    await expect(bad.acquire("torn")).rejects.toMatchObject({ code: "adapter_corrupt" });
  });

  it("a blob fetch that never answers (no reply, or a stream that stops) is adapter_unavailable after fetchTimeoutMs, and a later acquire tries again", async () => {
    const { config, weights } = serializeAdapter(lora("slow"));
    let mode: "silent" | "stalled" | "fine" = "silent";
    const stalled: Readable[] = [];
    const blobs = {
      get: async (k: string) => {
        if (mode === "silent") return new Promise<never>(() => {});
        if (mode === "stalled") {
          const r = new Readable({ read() {} }); // headers came, the body never does
          stalled.push(r);
          return r;
        }
        return Readable.from([Buffer.from(k.endsWith(".json") ? config : weights)]);
      },
    };
    const cache = new AdapterCache({ model: cfg, budgetBytes: SIZE, diskDir: mkdtempSync(join(tmpdir(), "engine-cache-")), blobs, fetchTimeoutMs: 50 });
    for (const m of ["silent", "stalled"] as const) {
      mode = m;
      const t = performance.now();
      await expect(cache.acquire("slow")).rejects.toMatchObject({ code: "adapter_unavailable", message: expect.stringContaining("within 50 ms") });
      expect(performance.now() - t).toBeLessThan(2000);
      expect(cache.loadingCount).toBe(0);
    }
    expect(stalled.length).toBe(2);
    for (const r of stalled) expect(r.destroyed).toBe(true); // given up, not left open
    mode = "fine";
    const lease = await cache.acquire("slow");
    expect(lease.adapter.id).toBe("slow");
    lease.release();
  });

  it("serves a blob-store adapter from memory when its local copy cannot be written (a full or broken disk): no error, and no half copy left to be read", async () => {
    const { cache, disk } = setup(2, [], ["w"]);
    mkdirSync(join(disk, "w", "adapter_model.safetensors.tmp"), { recursive: true }); // the write fails: EISDIR
    const lease = await cache.acquire("w");
    expect(lease.adapter.id).toBe("w");
    expect(cache.metrics.blobLoads).toBe(1);
    expect(existsSync(join(disk, "w", "adapter_config.json"))).toBe(false); // no half copy
    lease.release();
  });

  it("answers adapter_unavailable when the blob store fails, serves resident adapters meanwhile, and retries later", async () => {
    const { cache } = setup(2, ["warm"], []);
    let down = true;
    const { config, weights } = serializeAdapter(lora("cold"));
    cache.opts.blobs = {
      get: async (k: string) => {
        if (down) throw new Error("connect ECONNREFUSED");
        return Readable.from([Buffer.from(k.endsWith(".json") ? config : weights)]);
      },
    };
    (await cache.acquire("warm")).release();
    await expect(cache.acquire("cold")).rejects.toMatchObject({ code: "adapter_unavailable" });
    (await cache.acquire("warm")).release();
    down = false;
    (await cache.acquire("cold")).release();
    expect(cache.metrics.blobLoads).toBe(1);
  });

  it("finds blob keys through blobKeys (e.g. the adapter record's files)", async () => {
    const { config, weights } = serializeAdapter(lora("job-out"));
    const objects = new Map<string, Uint8Array>([["jobs/j1/output/adapter_config.json", new TextEncoder().encode(config)], ["jobs/j1/output/adapter_model.safetensors", weights]]);
    const cache = new AdapterCache({
      model: cfg,
      budgetBytes: SIZE,
      diskDir: mkdtempSync(join(tmpdir(), "engine-cache-")),
      blobs: { get: async (k) => (objects.has(k) ? Readable.from([Buffer.from(objects.get(k)!)]) : undefined) },
      blobKeys: async (id) => (id === "ad_1" ? { config: "jobs/j1/output/adapter_config.json", weights: "jobs/j1/output/adapter_model.safetensors" } : undefined),
    });
    const lease = await cache.acquire("ad_1");
    expect(lease.adapter.config.r).toBe(2);
    lease.release();
    await expect(cache.acquire("ad_2")).rejects.toMatchObject({ code: "adapter_not_found" });
  });

  it("decodes on a worker thread and gives what parsing on this thread gives", async () => {
    const { disk } = setup(4, ["w1", "w2"]);
    const onWorker = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: disk, kernelResident: false });
    const inline = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: disk, kernelResident: false, decodeOnWorker: false });
    for (const id of ["w1", "w2"]) {
      const a = await onWorker.acquire(id), b = await inline.acquire(id);
      expect(a.adapter).toEqual(b.adapter);
      expect(a.adapter).toEqual(parseAdapter(id, readFileSync(join(disk, id, "adapter_config.json"), "utf8"), readFileSync(join(disk, id, "adapter_model.safetensors")), cfg));
      a.release();
      b.release();
    }
    expect(onWorker.decodesOnWorker).toBe(true); // the worker started and answered: no fallback
    expect(inline.decodesOnWorker).toBe(false);
  });

  it("reads asked for in one turn go to the worker as one batch; each load reports where its time went", async () => {
    // Prepare: 5 adapters on disk, one of them corrupt, and a 6th that is missing (not on disk, no blob store)
    const ids = ["b0", "b1", "b2", "b3", "b4"];
    const { disk } = setup(8, ids);
    writeFileSync(join(disk, "b4", "adapter_model.safetensors"), new Uint8Array([1, 2, 3]));
    const traces: Array<{ id: string; where: string; parseMs: number; placeMs: number }> = [];
    const cache = new AdapterCache({ model: cfg, budgetBytes: 8 * SIZE, diskDir: disk, onLoad: (id, _ms, _tier, t) => traces.push({ id, where: t!.where, parseMs: t!.parseMs, placeMs: t!.placeMs }) });
    const inline = new AdapterCache({ model: cfg, budgetBytes: 8 * SIZE, diskDir: disk, kernelResident: false, decodeOnWorker: false });
    // Act: every acquire in the same turn
    const before = { ...workerReads };
    const got = await Promise.allSettled([...ids, "b5"].map((id) => cache.acquire(id)));
    // Assess: the good ones equal what this thread reads, the corrupt one and the missing one fail alone
    for (const [i, id] of ids.slice(0, 4).entries()) {
      const r = got[i]!;
      if (r.status !== "fulfilled") throw r.reason;
      const b = await inline.acquire(id);
      expect(r.value.adapter.layers.map((l) => Object.values(l).map((p) => [[...p.A], [...p.B]]))).toEqual(b.adapter.layers.map((l) => Object.values(l).map((p) => [[...p.A], [...p.B]])));
      b.release();
    }
    expect({ batches: workerReads.batches - before.batches, reads: workerReads.reads - before.reads }).toEqual({ batches: 1, reads: 6 });
    expect(got[4]).toMatchObject({ status: "rejected", reason: { code: "adapter_corrupt" } });
    expect(got[5]).toMatchObject({ status: "rejected", reason: { code: "adapter_not_found" } });
    expect(traces.map((t) => t.id).sort()).toEqual(["b0", "b1", "b2", "b3"]);
    for (const t of traces) expect(t).toMatchObject({ where: "worker", parseMs: expect.any(Number), placeMs: expect.any(Number) });
    expect(cache.decodesOnWorker).toBe(true); // the worker answered the batch: no fallback
  });

  it("parses a weights file above parseOnWorkerAboveBytes on the worker: the same adapter, and a corrupt one is still adapter_corrupt", async () => {
    const { disk } = setup(4, ["l1", "l2"]);
    writeFileSync(join(disk, "l2", "adapter_model.safetensors"), new Uint8Array(64));
    const traces: Array<{ where: string; parseMs: number }> = [];
    const big = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: disk, parseOnWorkerAboveBytes: 0, onLoad: (_id, _ms, _tier, t) => traces.push({ where: t!.where, parseMs: t!.parseMs }) });
    const inline = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: disk, kernelResident: false, decodeOnWorker: false });
    const a = await big.acquire("l1"), b = await inline.acquire("l1");
    expect(a.adapter.layers.map((l) => Object.values(l).map((p) => [[...p.A], [...p.B]]))).toEqual(b.adapter.layers.map((l) => Object.values(l).map((p) => [[...p.A], [...p.B]])));
    expect(traces).toEqual([{ where: "worker", parseMs: 0 }]);
    await expect(big.acquire("l2")).rejects.toMatchObject({ code: "adapter_corrupt" });
    a.release();
    b.release();
  });

  it("drainReadReplies settles a read whose reply arrived while this thread was busy, without waiting for a turn", async () => {
    const { disk } = setup(4, ["d1"]);
    const cache = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: disk });
    let lease: Awaited<ReturnType<typeof cache.acquire>> | undefined;
    const p = cache.acquire("d1").then((l) => (lease = l));
    await null; // the read is posted at the end of the turn that asked for it
    await null;
    // this thread stays busy (no event-loop turn) until the worker's reply is there to take
    let settled = 0;
    for (const until = performance.now() + 10_000; settled === 0 && performance.now() < until; ) settled = drainReadReplies();
    expect(settled).toBe(1);
    for (let i = 0; i < 20; i++) await null; // the load's continuations, microtasks only
    expect(lease?.adapter.id).toBe("d1");
    await p;
    lease!.release();
  });

  it("an onLoad observer that throws fails no load and leaves no pin: the load finished on its reply is evicted later as any other", async () => {
    const ids = ["t0", "t1", "t2", "t3"];
    const { disk } = setup(2, ids);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const cache = new AdapterCache({ model: cfg, budgetBytes: 2 * SIZE, diskDir: disk, onLoad: () => { throw new Error("observer down"); } });
      for (const id of ids) {
        const p = cache.acquire(id);
        await null;
        await null;
        for (const until = performance.now() + 10_000; drainReadReplies() === 0 && performance.now() < until; );
        (await p).release();
      }
      // t0 and t1 were evicted for t2 and t3: nothing stayed pinned by the observer's throw
      expect(cache.metrics.evictions).toBe(2);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((m) => m.includes("observer down"))).toHaveLength(4);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("finishes a worker read the moment its reply is handled, once placing cannot grow the kernel heap; its lease holds the one pin", async () => {
    const ids = ["e0", "e1", "e2", "e3"];
    const { disk } = setup(2, ids);
    const loaded: string[] = [];
    const cache = new AdapterCache({ model: cfg, budgetBytes: 2 * SIZE, diskDir: disk, onLoad: (id) => loaded.push(id) });
    // resident right after drainReadReplies handled the reply, before any continuation ran?
    const load = async (id: string) => {
      const p = cache.acquire(id);
      await null; // the read is posted at the end of the turn that asked for it
      await null;
      let settled = 0;
      for (const until = performance.now() + 10_000; settled === 0 && performance.now() < until; ) settled = drainReadReplies();
      expect(settled).toBe(1);
      const atDrain = loaded.includes(id);
      (await p).release();
      return atDrain;
    };
    const heap = kernelPath() === "wasm-simd";
    // the first place() makes the heap's first arena (the whole cap here): finished by the acquire
    expect(await load("e0")).toBe(!heap);
    expect(await load("e1")).toBe(true); // the arena is at the cap: finished as the reply was handled
    expect(cache.kernelResidentCount).toBe(heap ? 2 : 0);
    // released, e1's pin is gone: the next two loads evict e0 and then e1
    expect(await load("e2")).toBe(true);
    expect(await load("e3")).toBe(true);
    expect(cache.metrics.evictions).toBe(2);
    expect(cache.metrics.finishedOnReply).toBe(heap ? 3 : 4);
    expect(loaded).toEqual(ids); // each load recorded once
    expect(cache.metrics.loadLatencyBuckets.reduce((n, b) => n + b.count, 0)).toBe(4);
    const again = await cache.acquire("e1"); // evicted: a miss, read again
    expect(cache.metrics.diskLoads).toBe(5);
    expect(again.adapter.layers[0]!.q_proj!.A).toEqual(lora("e1").layers[0]!.q_proj!.A);
    again.release();
  });

  it("a worker read brings its kernel-heap block packed on the worker, which is copied in (on its reply and by the acquire): the heap holds what packing here gives", async () => {
    const ids = ["k0", "k1", "k2"];
    const { disk } = setup(2, ids);
    const packed = vi.spyOn(AdapterSlots.prototype, "placePacked"), here = vi.spyOn(AdapterSlots.prototype, "place");
    try {
      const onWorker = new AdapterCache({ model: cfg, budgetBytes: 2 * SIZE, diskDir: disk, packOnWorker: true });
      const noPack = new AdapterCache({ model: cfg, budgetBytes: 2 * SIZE, diskDir: disk }); // the default: packed here
      const inHeap = (a: ReturnType<typeof lora>) => a.layers.flatMap((l) => Object.values(l).flatMap((p) => [Array.from(p.Ak ?? []), Array.from(p.Bt ?? [])]));
      for (const id of ids) { // k0 is finished by its acquire (the first arena), k1 and k2 as their replies are handled
        const a = await onWorker.acquire(id);
        expect(packed).toHaveBeenCalledTimes(ids.indexOf(id) + 1);
        expect(here).toHaveBeenCalledTimes(ids.indexOf(id)); // only noPack's loads so far
        const b = await noPack.acquire(id);
        expect(here).toHaveBeenCalledTimes(ids.indexOf(id) + 1);
        expect(a.adapter.resident !== undefined).toBe(kernelPath() === "wasm-simd");
        expect(inHeap(a.adapter)).toEqual(inHeap(b.adapter));
        expect(Array.from(a.adapter.resident ?? []).map((o) => o < 0)).toEqual(Array.from(b.adapter.resident ?? []).map((o) => o < 0)); // the same pairs placed
        expect(values(a.adapter)).toEqual(values(lora(id)));
        a.release();
        b.release();
      }
      expect(packed.mock.results.every((r) => r.value === (kernelPath() === "wasm-simd"))).toBe(true);
    } finally {
      packed.mockRestore();
      here.mockRestore();
    }
  });

  it("a worker's block that does not fit the adapter (placePacked's RangeError) is packed here instead: the load does not fail", async () => {
    const { disk } = setup(2, ["m0"]);
    const packed = vi.spyOn(AdapterSlots.prototype, "placePacked").mockImplementation(() => { throw new RangeError("a packed block of the wrong size"); });
    const here = vi.spyOn(AdapterSlots.prototype, "place");
    try {
      const cache = new AdapterCache({ model: cfg, budgetBytes: 2 * SIZE, diskDir: disk, packOnWorker: true });
      const a = await cache.acquire("m0");
      expect(packed).toHaveBeenCalledTimes(1);
      expect(here).toHaveBeenCalledTimes(1);
      expect(a.adapter.resident !== undefined).toBe(kernelPath() === "wasm-simd");
      expect(values(a.adapter)).toEqual(values(lora("m0")));
      a.release();
    } finally {
      packed.mockRestore();
      here.mockRestore();
    }
  });

  it("asks a decodeOnWorker function once per cold load, and either answer gives the same adapter", async () => {
    const { disk } = setup(4, ["p1", "p2", "p3"]);
    const answers = [true, false, true];
    let asked = 0;
    const cache = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: disk, kernelResident: false, decodeOnWorker: () => answers[asked++]! });
    const inline = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: disk, kernelResident: false, decodeOnWorker: false });
    for (const id of ["p1", "p2", "p3", "p1"]) {
      const a = await cache.acquire(id), b = await inline.acquire(id);
      expect(a.adapter).toEqual(b.adapter);
      a.release();
      b.release();
    }
    expect(asked).toBe(3); // the fourth acquire was a hit
  });

  it("keeps resident adapters in the kernel heap and frees their blocks on eviction; an evicted adapter is discarded, and acquiring it again loads it anew", async () => {
    const ids = ["k0", "k1", "k2", "k3", "k4", "k5"];
    const { cache } = setup(2, ids);
    const resident = kernelPath() === "wasm-simd";
    const seen: Array<{ adapter: Awaited<ReturnType<typeof cache.acquire>>["adapter"]; values: number[] }> = [];
    for (const id of ids) {
      const lease = await cache.acquire(id);
      const values = lease.adapter.layers.flatMap((l) => Object.values(l).flatMap((p) => [...p.A, ...p.B]));
      // placed or not, A and B stay views of the one buffer the file was read into: the heap
      // holds its own copies, so nothing else is copied per cold load
      expect(new Set(lease.adapter.layers.flatMap((l) => Object.values(l).flatMap((p) => [p.A.buffer, p.B.buffer]))).size).toBe(1);
      seen.push({ adapter: lease.adapter, values });
      lease.release();
      expect(cache.kernelResidentCount).toBe(resident ? Math.min(2, seen.length) : 0);
    }
    expect(cache.metrics.evictions).toBe(4);
    // the first four were evicted with no lease on them: in the heap, their matrices went with
    // their blocks (a stale reference throws rather than read another adapter's block); off it
    // (no kernel heap here) there was nothing to move and they keep their values
    for (const { adapter, values } of seen.slice(0, 4)) {
      const read = () => adapter.layers.flatMap((l) => Object.values(l).flatMap((p) => [...p.A, ...p.B]));
      if (resident) expect(read).toThrow(AdapterDiscardedError);
      else expect(read()).toEqual(values);
    }
    for (const { adapter, values } of seen.slice(4)) expect(adapter.layers.flatMap((l) => Object.values(l).flatMap((p) => [...p.A, ...p.B]))).toEqual(values);
    // asked for again: a miss, a fresh adapter with the same values, in the heap
    const again = await cache.acquire("k0");
    expect(again.adapter).not.toBe(seen[0]!.adapter);
    expect(again.adapter.layers.flatMap((l) => Object.values(l).flatMap((p) => [...p.A, ...p.B]))).toEqual(seen[0]!.values);
    expect(values(again.adapter)).toEqual(values(lora("k0")));
    expect(cache.metrics).toMatchObject({ misses: 7, diskLoads: 7, evictions: 5 });
    again.release();
  });

  it("evicts (and discards) only adapters no lease holds: a pinned one keeps its matrices through any churn", async () => {
    const ids = ["p0", "p1", "p2", "p3"];
    const { cache } = setup(2, ids);
    const held = await cache.acquire("p0");
    for (const id of ids.slice(1)) (await cache.acquire(id)).release();
    expect(cache.metrics.evictions).toBe(2); // p1, p2: never p0
    expect(values(held.adapter)).toEqual(values(lora("p0")));
    const hit = await cache.acquire("p0");
    expect(hit.adapter).toBe(held.adapter);
    expect(cache.metrics.hits).toBe(1);
    held.release();
    hit.release();
  });

  it("does no synchronous file I/O (it runs inside the serving loop), nor does the decoder's side on this thread", () => {
    for (const file of ["./adapter-cache.ts", "./adapter-decoder.ts"]) {
      const source = readFileSync(new URL(file, import.meta.url), "utf8");
      expect(source, file).not.toMatch(/\b\w+Sync\(/);
    }
  });
});
