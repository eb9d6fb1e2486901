// Adapter reads that fail or never finish: each becomes a clear, retryable error for that
// adapter (adapter_unavailable), never a hang or an error of another kind, and the other
// adapters keep loading. Its own file because stuck workers count for the whole process (the
// decoder's worker is per process, and vitest gives each test file its own); the tests run in
// order: the first leaves one worker stuck, the second the rest up to MAX_STUCK.
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdapterCache } from "./adapter-cache.ts";
import { MAX_STUCK, workerReads } from "./adapter-decoder.ts";
import { createLora, loraBytes } from "./lora.ts";
import { saveAdapter } from "./peft.ts";
import { tinyConfig } from "./test-helpers.ts";

const cfg = tinyConfig();
const lora = (id: string) => createLora(cfg, { r: 2, alpha: 2, dropout: 0, targets: ["q_proj"] }, { id, seed: 3 });
const SIZE = loraBytes(lora("x"));
const fifos: string[] = [];

const temps: string[] = []; // removed after the fifos (a read blocked on one lies in one of them)
function disk(ids: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "engine-decoder-"));
  temps.push(dir);
  for (const id of ids) saveAdapter(join(dir, id), lora(id));
  return dir;
}

// a config file that is a FIFO with no writer: opening it blocks until one comes (what a hung
// network file system does to a read)
function stuckAdapter(dir: string, id: string): void {
  saveAdapter(join(dir, id), lora(id));
  const path = join(dir, id, "adapter_config.json");
  rmSync(path);
  execFileSync("mkfifo", [path]);
  fifos.push(path);
}

// settles within `ms`, or says it did not
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then((v) => ({ settled: "fulfilled" as const, v }), (e: unknown) => ({ settled: "rejected" as const, e })), new Promise<{ settled: "pending" }>((r) => setTimeout(() => r({ settled: "pending" }), ms))]);

afterAll(() => {
  // a writer that opens and closes lets every blocked reader finish (with an empty file)
  for (const f of fifos) {
    try {
      closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch { /* no reader left */ }
    rmSync(f, { force: true });
  }
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(process.platform === "win32")("AdapterDecoder faults", () => {
  it("a local copy that cannot be read is adapter_unavailable on the worker and on this thread, and the next adapter loads", async () => {
    const dir = disk(["fine", "unreadable"]);
    rmSync(join(dir, "unreadable", "adapter_config.json"));
    mkdirSync(join(dir, "unreadable", "adapter_config.json")); // EISDIR on read
    for (const decodeOnWorker of [true, false]) {
      const cache = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: dir, decodeOnWorker });
      await expect(cache.acquire("unreadable")).rejects.toMatchObject({ name: "AdapterCacheError", code: "adapter_unavailable" });
      expect(cache.loadingCount).toBe(0); // a later acquire tries again
      (await cache.acquire("fine")).release();
    }
  });

  it("a read that never finishes is adapter_unavailable after readTimeoutMs, on this thread and on the worker, whose other reads still come", async () => {
    const dir = disk(["ok1", "ok2"]);
    stuckAdapter(dir, "hung1");
    stuckAdapter(dir, "hung2");
    // this thread: the async read waits on the FIFO forever, the load does not
    const inline = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: dir, decodeOnWorker: false, readTimeoutMs: 150 });
    const a = await within(inline.acquire("hung1"), 3000);
    expect(a).toMatchObject({ settled: "rejected", e: { code: "adapter_unavailable" } });
    // the worker: stuck on hung2, with ok1 asked in the same turn (queued behind it in the worker)
    const where = new Map<string, string>();
    // (long enough for a new worker to start on a loaded machine: its first read waits for that)
    const cache = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: dir, decodeOnWorker: true, readTimeoutMs: 1000, onLoad: (id, _ms, _tier, t) => where.set(id, t!.where) });
    const [hung, behind] = await Promise.all([within(cache.acquire("hung2"), 3000), within(cache.acquire("ok1"), 3000)]);
    expect(hung).toMatchObject({ settled: "rejected", e: { code: "adapter_unavailable" } });
    expect(behind).toMatchObject({ settled: "fulfilled", v: { adapter: { id: "ok1" } } });
    expect(where.get("ok1")).toBe("inline"); // re-read here: it was queued behind the stuck read
    // a load asked for afterwards comes from a new worker: the stuck one is retired and replaced
    const started = workerReads.workersStarted;
    expect(await within(cache.acquire("ok2"), 3000)).toMatchObject({ settled: "fulfilled", v: { adapter: { id: "ok2" } } });
    expect(where.get("ok2")).toBe("worker");
    expect(workerReads.workersStarted).toBe(started + 1);
    expect(cache.decodesOnWorker).toBe(true);
  });

  it(`after ${MAX_STUCK} stuck workers (threads that cannot be stopped) the reads stay on this thread, and still come`, async () => {
    const ids = Array.from({ length: MAX_STUCK }, (_, i) => `stuck${i}`);
    const dir = disk(["after"]);
    for (const id of ids) stuckAdapter(dir, id);
    const where = new Map<string, string>();
    const cache = new AdapterCache({ model: cfg, budgetBytes: 4 * SIZE, diskDir: dir, decodeOnWorker: true, readTimeoutMs: 100, onLoad: (id, _ms, _tier, t) => where.set(id, t!.where) });
    // one at a time, each on a fresh worker (the test above left one stuck already)
    for (const id of ids) {
      if (!cache.decodesOnWorker) break;
      expect(await within(cache.acquire(id), 3000)).toMatchObject({ settled: "rejected", e: { code: "adapter_unavailable" } });
    }
    expect(cache.decodesOnWorker).toBe(false);
    expect(await within(cache.acquire("after"), 3000)).toMatchObject({ settled: "fulfilled", v: { adapter: { id: "after" } } });
    expect(where.get("after")).toBe("inline");
  });
});
