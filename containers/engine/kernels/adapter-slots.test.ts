// Resident adapters in the kernel heap: the span allocator frees, coalesces and reuses; placed
// adapters are read in place by the kernels and give exactly what the copied path gives; an
// evicted adapter gets its own arrays back and its block goes to the next adapter.
import { describe, expect, it } from "vitest";
import { AdapterDiscardedError, AdapterSlots, SpanAllocator } from "./adapter-slots.ts";
import { addLoraDelta, kernelPath } from "./index.ts";
import * as lora from "../lora.ts";
import { randArr, tinyConfig } from "../test-helpers.ts";

const f32 = (n: number, seed: number) => randArr(n, seed, Float32Array) as Float32Array;
const cfg = tinyConfig({ dim: 24, hiddenDim: 40 });
const adapter = (seed: number, r = 4, targets: lora.Target[] = ["q_proj", "v_proj", "down_proj"]) =>
  lora.createLora(cfg, { r, alpha: 2 * r, dropout: 0, targets }, { id: `a${seed}`, seed, randomB: true });
const matrices = (a: lora.LoraAdapter) => a.layers.flatMap((l) => Object.values(l).flatMap((p) => [p.A, p.B]));
// what the kernel reads of a placed adapter: A, and Bᵀ beside it
const placedMatrices = (a: lora.LoraAdapter) => a.layers.flatMap((l) => Object.values(l).flatMap((p) => [p.A, p.Bt!]));

describe("SpanAllocator", () => {
  it("hands out aligned blocks, reuses freed ones and coalesces neighbours", () => {
    const s = new SpanAllocator();
    s.addArena(1024, 1024);
    const a = s.alloc(100)!, b = s.alloc(200)!, c = s.alloc(300)!;
    expect([a, b, c]).toEqual([1024, 1024 + 112, 1024 + 112 + 208]);
    expect(s.alloc(1024)).toBeNull(); // does not fit what is left
    s.free(b);
    expect(s.alloc(200)).toBe(b); // the freed block, reused
    s.free(b);
    s.free(a); // merges with b's span
    expect(s.freeSpans).toBe(2); // [a, c) and the tail
    expect(s.alloc(300)).toBe(a); // fits only in the merged span
    s.free(a);
    s.free(c); // everything merges back into the one arena
    expect(s.freeSpans).toBe(1);
    expect(s.usedBytes).toBe(0);
    expect(s.alloc(1024)).toBe(1024);
    expect(() => s.free(1040)).toThrow(/no block/);
  });

  it("takes the smallest span that fits, and adjacent arenas merge", () => {
    const s = new SpanAllocator();
    s.addArena(0, 256);
    s.addArena(512, 64);
    expect(s.alloc(64)).toBe(512); // best fit, not first fit
    s.addArena(256, 256); // between the two: all one span again, less the block at 512
    expect(s.freeSpans).toBe(1);
    expect(s.alloc(512)).toBe(0);
  });
});

describe("AdapterSlots", () => {
  // a fake heap region: one buffer, arenas handed out from it in order
  function fakeRegion(floats: number) {
    const buf = new ArrayBuffer(floats * 4);
    let next = 16; // non-zero: offsets must be used, not assumed
    const calls: number[] = [];
    return { calls, buf, region: (n: number) => { if ((next + n * 4) > buf.byteLength) return null; const v = new Float32Array(buf, next, n); next += n * 4; calls.push(n); return v; } };
  }

  it("moves an adapter's A into one block with each Bᵀ beside it, and back out on release", () => {
    const { buf, region } = fakeRegion(64 * 1024);
    const slots = new AdapterSlots({ capBytes: 128 * 1024, arenaBytes: 64 * 1024, region });
    const a = adapter(1), before = matrices(a).map((m) => Array.from(m));
    expect(slots.place(a)).toBe(true);
    expect(slots.has(a)).toBe(true);
    expect(placedMatrices(a).every((m) => m.buffer === buf)).toBe(true);
    expect(matrices(a).map((m) => Array.from(m))).toEqual(before); // A and B read as before
    for (const p of a.layers.flatMap((l) => Object.values(l))) {
      const r = p.B.length / p.outDim;
      for (let i = 0; i < p.outDim; i++) for (let k = 0; k < r; k++) expect(p.Bt![k * p.outDim + i]).toBe(p.B[i * r + k]);
    }
    const first = matrices(a)[0]!.byteOffset;
    slots.release(a);
    expect(slots.has(a)).toBe(false);
    expect(matrices(a).every((m) => m.buffer !== buf)).toBe(true); // its own arrays again
    expect(a.layers.flatMap((l) => Object.values(l)).every((p) => p.Bt === undefined)).toBe(true);
    new Float32Array(buf).fill(7); // whatever reuses the block cannot touch the released adapter
    expect(matrices(a).map((m) => Array.from(m))).toEqual(before);
    // eviction freed the space: the next adapter gets the same block, and no new arena
    const b = adapter(2);
    expect(slots.place(b)).toBe(true);
    expect(matrices(b)[0]!.byteOffset).toBe(first);
    expect(slots.arenaBytes).toBe(64 * 1024);
  });

  it.each([3, 6])("writes the heap block as the layout says: each pair's A then Bᵀ, each 16-byte aligned, in pair order (r = %i)", (r) => {
    // odd sizes (dim 18: r = 3 makes 54-float matrices) so the alignment padding is exercised; r = 6:
    // the transpose's four-row passes and its tail
    const odd = tinyConfig({ dim: 18, hiddenDim: 30, nHeads: 2, nKvHeads: 1 });
    const { buf, region } = fakeRegion(64 * 1024);
    new Float32Array(buf).fill(-1); // padding keeps what was there: only the matrices are written
    const slots = new AdapterSlots({ capBytes: 128 * 1024, arenaBytes: 64 * 1024, region });
    const a = lora.createLora(odd, { r, alpha: 2 * r, dropout: 0, targets: ["q_proj", "k_proj", "down_proj"] }, { id: "odd", seed: 5, randomB: true });
    const pairs = a.layers.flatMap((l) => Object.values(l));
    const want = pairs.map((p) => {
      const r = p.B.length / p.outDim, Bt = new Float32Array(p.B.length);
      for (let i = 0; i < p.outDim; i++) for (let k = 0; k < r; k++) Bt[k * p.outDim + i] = p.B[i * r + k]!;
      return { A: Float32Array.from(p.A), Bt };
    });
    expect(slots.place(a)).toBe(true);
    const heap = new Float32Array(buf), up = (n: number) => Math.ceil((n * 4) / 16) * 16;
    let at = pairs[0]!.A.byteOffset;
    pairs.forEach((p, i) => {
      expect(p.A.byteOffset).toBe(at);
      expect(Array.from(heap.subarray(at / 4, at / 4 + want[i]!.A.length))).toEqual(Array.from(want[i]!.A));
      at += up(want[i]!.A.length);
      expect(p.Bt!.byteOffset).toBe(at);
      expect(Array.from(heap.subarray(at / 4, at / 4 + want[i]!.Bt.length))).toEqual(Array.from(want[i]!.Bt));
      at += up(want[i]!.Bt.length);
      if (i + 1 < pairs.length) expect(heap[(at - 4) / 4]).toBe(want[i]!.Bt.length % 4 ? -1 : want[i]!.Bt.at(-1)); // untouched padding
    });
    expect(slots.usedBytes).toBe(at - pairs[0]!.A.byteOffset);
    // the kernels' offsets: (layer, TARGETS index, A / Bᵀ)
    a.layers.forEach((l, li) => {
      for (const [t, p] of Object.entries(l) as [lora.Target, lora.LoraPair][]) {
        const e = (li * lora.TARGETS.length + lora.TARGETS.indexOf(t)) * 2;
        expect([a.resident![e], a.resident![e + 1]]).toEqual([p.A.byteOffset, p.Bt!.byteOffset]);
      }
    });
  });

  it("discard: the block is freed with nothing copied out, and any later use of the adapter throws AdapterDiscardedError", () => {
    const { buf, region } = fakeRegion(64 * 1024);
    const slots = new AdapterSlots({ capBytes: 64 * 1024, region });
    const a = adapter(7);
    expect(slots.place(a)).toBe(true);
    const placedAt = a.layers[0]!.q_proj!.A.byteOffset;
    slots.release(a, { discard: true });
    expect(slots.has(a)).toBe(false);
    expect(slots.discarded(a)).toBe(true);
    expect([slots.count, slots.usedBytes]).toEqual([0, 0]);
    expect(a.resident).toBeUndefined();
    const p = a.layers[0]!.q_proj!;
    expect(p.Bt).toBeUndefined();
    const discardedUse = { name: "AdapterDiscardedError", adapterId: "a7" };
    expect(() => p.A.length).toThrow(AdapterDiscardedError);
    expect(() => p.A[0]).toThrow(/adapter a7 was discarded/);
    expect(() => p.B.buffer).toThrow(AdapterDiscardedError);
    expect(() => new Float32Array(4).set(p.A)).toThrow(AdapterDiscardedError);
    expect(() => lora.loraBytes(a)).toThrow(AdapterDiscardedError);
    expect(() => slots.place(a)).toThrow(expect.objectContaining(discardedUse));
    expect(() => new AdapterSlots({ capBytes: 64 * 1024, region }).place(a)).toThrow(AdapterDiscardedError); // other slots too
    // the kernels (in place or copied) and the reference refuse it rather than read the block
    const x = f32(24, 1), out = new Float32Array(24), mid = new Float32Array(8);
    expect(() => addLoraDelta(out, x, [a], 0, "q_proj", 24, 24, mid)).toThrow(AdapterDiscardedError);
    expect(() => lora.addLoraDelta(out, x, [a], 0, "q_proj", 24, 24, mid)).toThrow(AdapterDiscardedError);
    // its block went back: the next adapter gets it, and reads its own values there
    const b = adapter(8), want = matrices(b).map((m) => Array.from(m));
    expect(slots.place(b)).toBe(true);
    expect(b.layers[0]!.q_proj!.A.byteOffset).toBe(placedAt);
    expect(b.layers[0]!.q_proj!.A.buffer).toBe(buf);
    expect(matrices(b).map((m) => Array.from(m))).toEqual(want);
    slots.release(b); // a plain release still gives arrays of its own
    expect(slots.discarded(b)).toBe(false);
    expect(matrices(b).map((m) => Array.from(m))).toEqual(want);
  });

  it("keepOwn: release gives back the very A arrays the adapter had, with its values", () => {
    const { buf, region } = fakeRegion(64 * 1024);
    const slots = new AdapterSlots({ capBytes: 64 * 1024, region });
    const a = adapter(3), own = a.layers.flatMap((l) => Object.values(l).map((p) => p.A)), before = matrices(a).map((m) => Array.from(m));
    expect(slots.place(a, { keepOwn: true })).toBe(true);
    expect(placedMatrices(a).every((m) => m.buffer === buf)).toBe(true);
    slots.release(a);
    expect(a.layers.flatMap((l) => Object.values(l).map((p) => p.A))).toEqual(own);
    a.layers.flatMap((l) => Object.values(l)).forEach((p, i) => expect(p.A).toBe(own[i]));
    new Float32Array(buf).fill(7);
    expect(matrices(a).map((m) => Array.from(m))).toEqual(before);
  });

  it("a churn of adapters through a few slots never grows past the cap, and the one that does not fit keeps its arrays", () => {
    const { calls, region } = fakeRegion(1024 * 1024);
    const size = lora.loraBytes(adapter(0));
    const slots = new AdapterSlots({ capBytes: 3 * size + 64, arenaBytes: 3 * size + 64, region });
    const resident: lora.LoraAdapter[] = [];
    for (let i = 0; i < 200; i++) {
      const a = adapter(i, i % 2 ? 4 : 2); // two sizes, interleaved: the spans must coalesce
      if (resident.length === 3) slots.release(resident.shift()!);
      expect(slots.place(a)).toBe(true);
      resident.push(a);
    }
    expect(calls).toHaveLength(1); // one arena for all 200
    expect(slots.count).toBe(3);
    const extra = adapter(999, 4);
    const own = matrices(extra);
    expect(slots.place(extra)).toBe(false); // over the cap: nothing moved
    expect(matrices(extra)).toEqual(own);
    expect(matrices(extra).every((m, i) => m === own[i])).toBe(true);
  });

  it("the kernels read a placed adapter in place and give what the copied path gives, bit for bit", () => {
    const slots = new AdapterSlots({ capBytes: 1024 * 1024 }); // the real kernel heap
    const copied = [adapter(3), adapter(4, 8)], placed = [adapter(3), adapter(4, 8)];
    for (const a of placed) slots.place(a);
    expect(placed.every((a) => slots.has(a))).toBe(kernelPath() === "wasm-simd");
    const rows = (ads: lora.LoraAdapter[]) => [ads[0]!, null, ads[1]!, ads[0]!];
    for (const [t, n, d] of [["q_proj", 24, 24], ["down_proj", 40, 24]] as const) {
      const x = f32(4 * n, 11), base = f32(4 * d, 12);
      const want = Float32Array.from(base), got = Float32Array.from(base);
      addLoraDelta(want, x, rows(copied), 1, t, n, d, new Float32Array(8));
      addLoraDelta(got, x, rows(placed), 1, t, n, d, new Float32Array(8));
      expect(Array.from(got)).toEqual(Array.from(want));
    }
    for (const a of placed) slots.release(a);
    expect(slots.count).toBe(0);
    expect(slots.usedBytes).toBe(0);
  });
});
