// Resident adapters in the kernel heap: the span allocator frees, coalesces and reuses; placed
// adapters' A and Bᵀ are written in the kernel's layout, read in place by the kernels and give
// exactly what the copied path gives; A and B stay the adapter's own arrays, and an evicted
// adapter's block goes to the next adapter.
import { describe, expect, it } from "vitest";
import { AdapterDiscardedError, AdapterSlots, packBlock, SpanAllocator } from "./adapter-slots.ts";
import { addLoraDelta, kernelPath } from "./index.ts";
import * as lora from "../lora.ts";
import { randArr, tinyConfig } from "../test-helpers.ts";

const f32 = (n: number, seed: number) => randArr(n, seed, Float32Array) as Float32Array;
const cfg = tinyConfig({ dim: 24, hiddenDim: 40 });
const adapter = (seed: number, r = 4, targets: lora.Target[] = ["q_proj", "v_proj", "down_proj"]) =>
  lora.createLora(cfg, { r, alpha: 2 * r, dropout: 0, targets }, { id: `a${seed}`, seed, randomB: true });
const matrices = (a: lora.LoraAdapter) => a.layers.flatMap((l) => Object.values(l).flatMap((p) => [p.A, p.B]));
// what the kernel reads of a placed adapter: A and Bᵀ in its layout
const placedMatrices = (a: lora.LoraAdapter) => a.layers.flatMap((l) => Object.values(l).flatMap((p) => [p.Ak!, p.Bt!]));

// Where the kernel's layout (the top of lora-kernel.wat) puts A[k][j] and Bᵀ[k][j], written
// out from its definition, index by index (not by packA / packBt, which these tests check)
function posA(k: number, j: number, r: number, n: number): number {
  const g8 = n % 4 === 0 ? 8 * Math.floor(r / 8) : 0, g4 = n % 4 === 0 && r - g8 >= 4 ? g8 + 4 : g8;
  if (k < g8) { const k0 = k - (k % 8); return k0 * n + Math.floor(j / 4) * 32 + (k - k0) * 4 + (j % 4); }
  if (k < g4) return g8 * n + Math.floor(j / 4) * 16 + (k - g8) * 4 + (j % 4);
  return k * n + j;
}
function posBt(k: number, j: number, r: number, d: number): number {
  const d4 = d & ~3;
  if (k >= 4 * Math.floor(r / 4)) return k * d + j;
  const k0 = k - (k % 4);
  return j < d4 ? k0 * d + Math.floor(j / 4) * 16 + (k - k0) * 4 + (j % 4) : k0 * d + d4 * 4 + (j - d4) * 4 + (k - k0);
}
// what a block of this dtype holds for a matrix of f32 values: the values, or their bf16 bits
const stored = (m: Float32Array, dtype: "f32" | "bf16"): number[] => {
  if (dtype === "f32") return Array.from(m);
  const h = new Uint16Array(m.length);
  lora.toBf16(h, 0, m);
  return Array.from(h);
};
/** A and Bᵀ of a pair in the kernel's layout, from its A (r, n) and B (d, r). */
function kernelLayout(p: lora.LoraPair): { Ak: Float32Array; Bt: Float32Array } {
  const n = p.inDim, d = p.outDim, r = p.A.length / n, Ak = new Float32Array(r * n), Bt = new Float32Array(r * d);
  for (let k = 0; k < r; k++) for (let j = 0; j < n; j++) Ak[posA(k, j, r, n)] = p.A[k * n + j]!;
  for (let k = 0; k < r; k++) for (let j = 0; j < d; j++) Bt[posBt(k, j, r, d)] = p.B[j * r + k]!;
  return { Ak, Bt };
}

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

  it.each(["f32", "bf16"] as const)("writes an adapter's A and Bᵀ in the kernel's layout into one block (%s), leaves A and B its own, and frees the block on release", (dtype) => {
    const { buf, region } = fakeRegion(64 * 1024);
    const slots = new AdapterSlots({ capBytes: 128 * 1024, arenaBytes: 64 * 1024, region, dtype });
    const a = adapter(1), own = matrices(a), before = own.map((m) => Array.from(m));
    expect(slots.place(a)).toBe(true);
    expect(slots.has(a)).toBe(true);
    expect(placedMatrices(a).every((m) => m.buffer === buf)).toBe(true);
    expect(matrices(a).every((m, i) => m === own[i])).toBe(true); // the very arrays it had
    expect(matrices(a).map((m) => Array.from(m))).toEqual(before);
    for (const p of a.layers.flatMap((l) => Object.values(l))) {
      const want = kernelLayout(p);
      expect(p.Ak).toBeInstanceOf(dtype === "f32" ? Float32Array : Uint16Array);
      expect(Array.from(p.Ak!)).toEqual(stored(want.Ak, dtype));
      expect(Array.from(p.Bt!)).toEqual(stored(want.Bt, dtype));
    }
    expect(a.residentBf16).toBe(dtype === "bf16");
    expect(slots.usedBytes).toBe(slots.blockBytes(a));
    const first = placedMatrices(a)[0]!.byteOffset;
    slots.release(a);
    expect(slots.has(a)).toBe(false);
    expect(matrices(a).every((m, i) => m === own[i])).toBe(true);
    expect(a.layers.flatMap((l) => Object.values(l)).every((p) => p.Ak === undefined && p.Bt === undefined)).toBe(true);
    new Float32Array(buf).fill(7); // whatever reuses the block cannot touch the released adapter
    expect(matrices(a).map((m) => Array.from(m))).toEqual(before);
    // eviction freed the space: the next adapter gets the same block, and no new arena
    const b = adapter(2);
    expect(slots.place(b)).toBe(true);
    expect(placedMatrices(b)[0]!.byteOffset).toBe(first);
    expect(slots.arenaBytes).toBe(64 * 1024);
  });

  it.each(([
    ["dim 18, r = 3: no rank groups, odd sizes for the alignment padding", 18, 30, 3],
    ["dim 18, r = 6: Bᵀ's group of four with a tail of two columns, then plain rows; A plain (n % 4 ≠ 0)", 18, 30, 6],
    ["dim 20, r = 13: A in a group of eight, one of four and a plain row; Bᵀ in three groups of four and a plain row", 20, 36, 13],
  ] as const).flatMap(([what, dim, hiddenDim, r]) => (["f32", "bf16"] as const).map((dtype) => [what, dtype, dim, hiddenDim, r] as const)))("writes the heap block as the layout says: each pair's A then Bᵀ in the kernel's layout, each 16-byte aligned, in pair order (%s; %s)", (_, dtype, dim, hiddenDim, r) => {
    const cfg2 = tinyConfig({ dim, hiddenDim, nHeads: 2, nKvHeads: 1 });
    const { buf, region } = fakeRegion(64 * 1024);
    const e = dtype === "f32" ? 4 : 2, View = dtype === "f32" ? Float32Array : Uint16Array;
    new View(buf).fill(dtype === "f32" ? -1 : 0xbf80); // padding keeps what was there: only the matrices are written (0xbf80: bf16 −1)
    const slots = new AdapterSlots({ capBytes: 128 * 1024, arenaBytes: 64 * 1024, region, dtype });
    const a = lora.createLora(cfg2, { r, alpha: 2 * r, dropout: 0, targets: ["q_proj", "k_proj", "down_proj"] }, { id: "odd", seed: 5, randomB: true });
    const pairs = a.layers.flatMap((l) => Object.values(l));
    const want = pairs.map(kernelLayout);
    expect(slots.place(a)).toBe(true);
    const heap = new View(buf), up = (n: number) => Math.ceil((n * e) / 16) * 16;
    let at = pairs[0]!.Ak!.byteOffset;
    pairs.forEach((p, i) => {
      expect(p.Ak!.byteOffset).toBe(at);
      expect(Array.from(heap.subarray(at / e, at / e + want[i]!.Ak.length))).toEqual(stored(want[i]!.Ak, dtype));
      at += up(want[i]!.Ak.length);
      expect(p.Bt!.byteOffset).toBe(at);
      expect(Array.from(heap.subarray(at / e, at / e + want[i]!.Bt.length))).toEqual(stored(want[i]!.Bt, dtype));
      at += up(want[i]!.Bt.length);
      const per = 16 / e; // values in 16 bytes
      if (i + 1 < pairs.length) expect(heap[(at - e) / e]).toBe(want[i]!.Bt.length % per ? (dtype === "f32" ? -1 : 0xbf80) : stored(want[i]!.Bt, dtype).at(-1)); // untouched padding
    });
    expect(slots.usedBytes).toBe(at - pairs[0]!.Ak!.byteOffset);
    // the kernels' offsets: (layer, TARGETS index, A / Bᵀ)
    a.layers.forEach((l, li) => {
      for (const [t, p] of Object.entries(l) as [lora.Target, lora.LoraPair][]) {
        const e = (li * lora.TARGETS.length + lora.TARGETS.indexOf(t)) * 2;
        expect([a.resident![e], a.resident![e + 1]]).toEqual([p.Ak!.byteOffset, p.Bt!.byteOffset]);
      }
    });
  });

  it.each(([
    ["r = 4 on q, v and down (the default test adapter)", 24, 40, 4, ["q_proj", "v_proj", "down_proj"]],
    ["dim 20, r = 13: groups of eight, four and a plain row, on q, k, o and down", 20, 36, 13, ["q_proj", "k_proj", "o_proj", "down_proj"]],
    ["dim 18, r = 6: A plain (n % 4 ≠ 0), Bᵀ a group with a tail, on every target", 18, 30, 6, [...lora.TARGETS]],
  ] as const).flatMap(([what, dim, hiddenDim, r, targets]) => (["f32", "bf16"] as const).map((dtype) => [what, dtype, dim, hiddenDim, r, targets] as const)))("packBlock makes, and placePacked copies in, the very bytes place() writes (%s; %s)", (_, dtype, dim, hiddenDim, r, targets) => {
    const cfg2 = tinyConfig({ dim, hiddenDim, nHeads: 2, nKvHeads: 1 });
    const make = () => lora.createLora(cfg2, { r, alpha: 2 * r, dropout: 0, targets: [...targets] }, { id: "p", seed: 11, randomB: true });
    const viaPlace = fakeRegion(64 * 1024), viaPacked = fakeRegion(64 * 1024); // both zero-filled: padding compares equal
    const slotsA = new AdapterSlots({ capBytes: 128 * 1024, arenaBytes: 64 * 1024, region: viaPlace.region, dtype });
    const slotsB = new AdapterSlots({ capBytes: 128 * 1024, arenaBytes: 64 * 1024, region: viaPacked.region, dtype });
    const a = make(), b = make(), bOwn = matrices(b);
    const block = packBlock(b, dtype);
    expect(block.byteLength).toBe(slotsB.blockBytes(b));
    expect(slotsA.place(a)).toBe(true);
    const start = a.layers[0]![Object.keys(a.layers[0]!)[0] as lora.Target]!.Ak!.byteOffset;
    expect(Array.from(new Uint8Array(viaPlace.buf, start, block.byteLength))).toEqual(Array.from(block));
    expect(slotsB.placePacked(b, block)).toBe(true);
    expect(slotsB.has(b)).toBe(true);
    expect(Array.from(new Uint8Array(viaPacked.buf))).toEqual(Array.from(new Uint8Array(viaPlace.buf))); // the whole heap, byte for byte
    // the same views, offsets and flags as place() leaves, and A and B the adapter's own
    expect(Array.from(b.resident!)).toEqual(Array.from(a.resident!));
    expect(b.residentBf16).toBe(a.residentBf16);
    expect(placedMatrices(b).map((m) => [m.constructor, m.byteOffset, m.length])).toEqual(placedMatrices(a).map((m) => [m.constructor, m.byteOffset, m.length]));
    expect(matrices(b).every((m, i) => m === bOwn[i])).toBe(true);
    expect(slotsB.placePacked(b, new Uint8Array(0))).toBe(true); // placed already: nothing is read
    slotsB.release(b);
    expect(slotsB.usedBytes).toBe(0);
  });

  it("placePacked refuses a block of another size (another dtype's or adapter's) and, with no block to be had, leaves the adapter as it was", () => {
    const { region } = fakeRegion(64 * 1024);
    const slots = new AdapterSlots({ capBytes: 128 * 1024, arenaBytes: 64 * 1024, region, dtype: "bf16" });
    const a = adapter(1);
    expect(() => slots.placePacked(a, packBlock(a, "f32"))).toThrow(RangeError);
    expect(() => slots.placePacked(a, packBlock(adapter(2, 8), "bf16"))).toThrow(/packed block of/);
    expect(slots.has(a)).toBe(false);
    const full = new AdapterSlots({ capBytes: 0, region, dtype: "bf16" });
    expect(full.placePacked(a, packBlock(a, "bf16"))).toBe(false);
    expect(a.resident).toBeUndefined();
    expect(a.layers.flatMap((l) => Object.values(l)).every((p) => p.Ak === undefined)).toBe(true);
  });

  it("discard: the block is freed, and any later use of the adapter throws AdapterDiscardedError", () => {
    const { buf, region } = fakeRegion(64 * 1024);
    const slots = new AdapterSlots({ capBytes: 64 * 1024, region });
    const a = adapter(7);
    expect(slots.place(a)).toBe(true);
    const placedAt = a.layers[0]!.q_proj!.Ak!.byteOffset;
    slots.release(a, { discard: true });
    expect(slots.has(a)).toBe(false);
    expect(slots.discarded(a)).toBe(true);
    expect([slots.count, slots.usedBytes]).toEqual([0, 0]);
    expect(a.resident).toBeUndefined();
    const p = a.layers[0]!.q_proj!;
    expect([p.Ak, p.Bt]).toEqual([undefined, undefined]);
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
    expect(b.layers[0]!.q_proj!.Ak!.byteOffset).toBe(placedAt);
    expect(b.layers[0]!.q_proj!.Ak!.buffer).toBe(buf);
    expect(Array.from(b.layers[0]!.q_proj!.Ak!)).toEqual(stored(kernelLayout(b.layers[0]!.q_proj!).Ak, slots.dtype));
    slots.release(b); // a plain release leaves A and B as they are
    expect(slots.discarded(b)).toBe(false);
    expect(matrices(b).map((m) => Array.from(m))).toEqual(want);
  });

  it("the adapter's arrays are its own before, during and after placement, with its values", () => {
    const { buf, region } = fakeRegion(64 * 1024);
    const slots = new AdapterSlots({ capBytes: 64 * 1024, region });
    const a = adapter(3), own = matrices(a), before = own.map((m) => Array.from(m));
    expect(slots.place(a)).toBe(true);
    expect(placedMatrices(a).every((m) => m.buffer === buf)).toBe(true);
    expect(matrices(a).every((m, i) => m === own[i] && m.buffer !== buf)).toBe(true);
    slots.release(a);
    expect(matrices(a).every((m, i) => m === own[i])).toBe(true);
    new Float32Array(buf).fill(7);
    expect(matrices(a).map((m) => Array.from(m))).toEqual(before);
  });

  it("a churn of adapters through a few slots never grows past the cap, and the one that does not fit keeps its arrays", () => {
    const { calls, region } = fakeRegion(1024 * 1024);
    const size = lora.loraBytes(adapter(0));
    const slots = new AdapterSlots({ capBytes: 3 * size + 64, arenaBytes: 3 * size + 64, region, dtype: "f32" }); // f32: a block is loraBytes
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

  it("mayGrow: true while the cap leaves room for the arena a block needs, false once it does not (place then only reuses arenas) or the heap said no", () => {
    const { region } = fakeRegion(256 * 1024);
    const a = adapter(7), size = new AdapterSlots({ capBytes: 1, region, dtype: "f32" }).blockBytes(a);
    const slots = new AdapterSlots({ capBytes: 2 * size, arenaBytes: size, region, dtype: "f32" });
    expect(slots.mayGrow(a)).toBe(true);
    slots.place(a);
    expect(slots.mayGrow(adapter(8))).toBe(true); // one arena of two
    const b = adapter(8);
    slots.place(b);
    expect(slots.arenaBytes).toBe(2 * size);
    expect(slots.mayGrow(adapter(9))).toBe(false); // at the cap: a third is refused, nothing grows
    slots.release(a);
    expect(slots.mayGrow(adapter(9))).toBe(false); // a freed block is reused, still no arena
    expect(slots.place(adapter(9))).toBe(true);
    expect(slots.arenaBytes).toBe(2 * size);
    const big = adapter(10, 8); // a block larger than the arena needs an arena of its own size
    const roomy = new AdapterSlots({ capBytes: 2 * size, arenaBytes: size, region, dtype: "f32" });
    expect(roomy.blockBytes(big)).toBeGreaterThan(size);
    expect(roomy.mayGrow(big)).toBe(roomy.blockBytes(big) <= 2 * size);
    const heapless = new AdapterSlots({ capBytes: 2 * size, arenaBytes: size, region: () => null, dtype: "f32" });
    expect(heapless.place(a)).toBe(false);
    expect(heapless.mayGrow(a)).toBe(false);
  });

  it("the kernels read a placed adapter in place and give what the copied path gives, bit for bit (the process's dtype, bf16 by default)", () => {
    const slots = new AdapterSlots({ capBytes: 1024 * 1024 }); // the real kernel heap
    expect(slots.dtype).toBe(process.env.ENGINE_ADAPTER_DTYPE || "bf16");
    const placed = [adapter(3), adapter(4, 8)];
    for (const a of placed) slots.place(a);
    // in the real heap a bf16 block is packed there and rounded by the kernel (f32_to_bf16): the bits the JS rounding writes
    if (slots.dtype === "bf16" && kernelPath() === "wasm-simd")
      for (const a of placed) for (const layer of a.layers) for (const p of Object.values(layer)) {
        const { Ak, Bt } = kernelLayout(p);
        expect(Array.from(p.Ak!)).toEqual(stored(Ak, "bf16"));
        expect(Array.from(p.Bt!)).toEqual(stored(Bt, "bf16"));
      }
    const copied = placed.map((a) => (a.residentBf16 ? lora.loraRoundedToBf16(a) : adapter(a === placed[0] ? 3 : 4, a.config.r))); // the values its block holds, not resident
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
