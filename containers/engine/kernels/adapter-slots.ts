// Resident adapters in the kernel heap. The batched LoRA kernel (lora-kernel.wat) reads each
// row's A and Bᵀ from the heap, in its own layout (lora-kernel.ts packA, packBt: each matrix one
// sequential stream in the order the kernel reads it); an adapter not in the heap is packed into
// scratch on every call, once per layer and projection, which with many distinct adapters per
// batch costs as much as the delta itself. AdapterSlots gives each adapter the AdapterCache
// makes resident one block of the heap and writes there, pair by pair, A and Bᵀ in the kernel's
// layout (the pair's Ak and Bt); A and B stay the pair's own arrays, the one source of truth
// for the reference path, training and saving. On eviction it drops Ak and Bt and frees the
// block for the next adapter, or, for an adapter its caller drops (the cache's eviction), also
// leaves A and B matrices that throw on any use (release's discard).
//
// The heap's own allocator never frees (model weights live as long as the process), so the
// blocks come from arenas placed there for good and are managed here: a free list of spans in
// address order, best fit, neighbours coalesced on free. A block that cannot be had (no kernel
// heap, the cap reached, a fragmented arena) is not an error: that adapter keeps its own arrays
// and the kernels pack it per call as before. Slower, never a wrong answer.
//
// The block holds A and Bᵀ in bf16 by default (ENGINE_ADAPTER_DTYPE=f32, or the dtype option,
// keeps f32), rounded to nearest even from the adapter's f32 arrays, which stay as they are: with
// 64 rows of 64 distinct adapters a decode step reads every row's matrices from L3 or memory,
// and half the bytes is most of the delta's cost (docs/benchmarks.md, the fourth round). The
// kernel widens each value back exactly and does its arithmetic in f32, so the answer is the
// reference's on the rounded values (lora.ts loraRoundedToBf16), as vLLM and S-LoRA serve
// adapters in the serving dtype.
import { TARGETS, type LoraAdapter, type LoraPair, type Target } from "../lora.ts";
import { heapToBf16, notePlacement, placeRegion } from "./index.ts";
import { adapterDtype, packA, packBt, type AdapterDtype } from "./lora-kernel.ts";
import { align, blockBytesAt, blockPairs, packRoundedJs } from "./adapter-block.ts";

export { adapterDtype, type AdapterDtype } from "./lora-kernel.ts";
export { packBlock } from "./adapter-block.ts";

const ALIGN = 16; // the kernels' SIMD loads want 16-byte aligned matrices (adapter-block.ts align)
const ARENA_BYTES = 4 * 2 ** 20;

interface Span { start: number; end: number } // byte offsets, end exclusive

/**
 * A free-list allocator over byte ranges ("arenas") handed to it; it hands out
 * aligned offsets and takes them back. Pure bookkeeping: no memory of its own, so it is tested
 * without a heap.
 */
export class SpanAllocator {
  #free: Span[] = []; // sorted by start, never adjacent (coalesced)
  #used = new Map<number, number>(); // start → bytes
  #arenaBytes = 0;
  #usedBytes = 0;

  get arenaBytes(): number { return this.#arenaBytes; }
  get usedBytes(): number { return this.#usedBytes; }
  get freeSpans(): number { return this.#free.length; }

  /** Add [start, start + bytes) to what can be handed out (start and bytes 16-byte aligned). */
  addArena(start: number, bytes: number): void {
    if (start % ALIGN || bytes % ALIGN || bytes <= 0) throw new RangeError(`arena [${start}, +${bytes}) is not ${ALIGN}-byte aligned`);
    this.#arenaBytes += bytes;
    this.#insert({ start, end: start + bytes });
  }

  /** The start of a free block of at least `bytes` (the smallest span that fits), or null. */
  alloc(bytes: number): number | null {
    const n = align(Math.max(bytes, 1));
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const s = this.#free[i]!, size = s.end - s.start;
      if (size >= n && (best < 0 || size < this.#free[best]!.end - this.#free[best]!.start)) best = i;
    }
    if (best < 0) return null;
    const s = this.#free[best]!, at = s.start;
    if (s.end - s.start === n) this.#free.splice(best, 1);
    else s.start += n;
    this.#used.set(at, n);
    this.#usedBytes += n;
    return at;
  }

  /** Give a block back; it merges with free neighbours. */
  free(start: number): void {
    const n = this.#used.get(start);
    if (n === undefined) throw new RangeError(`no block starts at ${start}`);
    this.#used.delete(start);
    this.#usedBytes -= n;
    this.#insert({ start, end: start + n });
  }

  #insert(span: Span): void {
    // binary search for the first free span after this one, then merge with both sides
    let lo = 0, hi = this.#free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#free[mid]!.start < span.start) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.#free[lo - 1], next = this.#free[lo];
    if (prev && prev.end > span.start || next && span.end > next.start) throw new RangeError(`block [${span.start}, ${span.end}) overlaps a free span`);
    if (prev && prev.end === span.start) {
      prev.end = span.end;
      if (next && next.start === prev.end) { prev.end = next.end; this.#free.splice(lo, 1); }
    } else if (next && next.start === span.end) next.start = span.start;
    else this.#free.splice(lo, 0, span);
  }
}

export interface AdapterSlotsOptions {
  /** Most bytes of arenas to place in the heap (they are never given back to the heap). */
  capBytes: number;
  /** Arena size (at most capBytes); a larger adapter gets an arena of its own size. */
  arenaBytes?: number;
  /** Where arenas come from: n floats of the kernel heap for good, or null (tests inject this). */
  region?: (n: number) => Float32Array | null;
  /** How blocks store A and Bᵀ (default: adapterDtype(), the process's). */
  dtype?: AdapterDtype;
}

interface Slot { start: number; pairs: LoraPair[] }

/** The heap offsets of a placed adapter's Ak and Bt matrices, (layer, TARGETS index, 2); −1: no pair. */
function residentOffsets(a: LoraAdapter): Int32Array {
  const out = new Int32Array(a.layers.length * TARGETS.length * 2).fill(-1); // not 0: a block may start at byte 0
  a.layers.forEach((layer, l) => {
    for (const [t, p] of Object.entries(layer) as [Target, LoraPair][]) {
      const e = (l * TARGETS.length + TARGETS.indexOf(t)) * 2;
      out[e] = p.Ak!.byteOffset;
      out[e + 1] = p.Bt!.byteOffset;
    }
  });
  return out;
}

// In the kernel heap each AdapterSlots packs into a region of its own, CONV_FLOATS, and the
// kernel rounds to bf16: about 0.3 ns a value against 5-7 in JS (adapter-block.ts packRoundedJs),
// on the serving thread's cold-load path
const CONV_FLOATS = 16_384; // 64 KiB: the largest pair of r=16 on the committed model is 4,096 values

/** Raised by any use of an adapter whose matrices AdapterSlots.release dropped ({ discard: true }). */
export class AdapterDiscardedError extends Error {
  override name = "AdapterDiscardedError";
  readonly adapterId: string;
  constructor(adapterId: string) {
    super(`adapter ${adapterId} was discarded when it left the kernel heap (its matrices are gone): load it again`);
    this.adapterId = adapterId;
  }
}

// What a discarded adapter's pairs hold instead of A and B: every read of it (length, an
// element, buffer, set() from it, instanceof) throws, so a stale reference fails loudly instead
// of reading a heap block that another adapter owns now. One per adapter, named after it.
function discardedMatrix(id: string): Float32Array {
  const fail = (): never => { throw new AdapterDiscardedError(id); };
  return new Proxy(new Float32Array(0), { get: fail, set: fail, has: fail, ownKeys: fail, getOwnPropertyDescriptor: fail, defineProperty: fail, deleteProperty: fail, getPrototypeOf: fail });
}

/** Blocks of the kernel heap for resident adapters; see the top of this file. */
export class AdapterSlots {
  readonly #alloc = new SpanAllocator();
  readonly #slots = new WeakMap<LoraAdapter, Slot>();
  readonly #discarded = new WeakSet<LoraAdapter>();
  // the buffer of the newest arena: the memory only grows, so it covers every arena placed
  // before it (a block may span two adjacent arenas), and the kernels know it as theirs
  #buffer: ArrayBufferLike | null = null;
  readonly #cap: number;
  readonly #arena: number;
  readonly #region: (n: number) => Float32Array | null;
  #count = 0;
  #heapless = false; // the region said no once: stop asking
  readonly dtype: AdapterDtype;
  readonly #elt: number; // bytes per stored value
  readonly #inHeap: boolean; // the arenas are the kernel heap's (placeRegion), which the kernel can round in
  #conv: Float32Array | null = null; // the kernel's f32 packing region, taken with the first arena

  constructor(opts: AdapterSlotsOptions) {
    if (!(opts.capBytes >= 0)) throw new RangeError("capBytes must be ≥ 0");
    this.dtype = opts.dtype ?? adapterDtype();
    if (this.dtype !== "f32" && this.dtype !== "bf16") throw new RangeError(`dtype must be f32 or bf16, got ${JSON.stringify(this.dtype)}`);
    this.#elt = this.dtype === "bf16" ? 2 : 4;
    this.#cap = opts.capBytes;
    this.#arena = align(Math.min(opts.arenaBytes ?? ARENA_BYTES, opts.capBytes));
    this.#region = opts.region ?? placeRegion;
    this.#inHeap = opts.region === undefined;
  }

  /** Adapters whose matrices are in the heap now. */
  get count(): number { return this.#count; }
  /** Bytes of blocks in use and of arenas placed. */
  get usedBytes(): number { return this.#alloc.usedBytes; }
  get arenaBytes(): number { return this.#alloc.arenaBytes; }

  /** Bytes of the block `a` takes (or would take) in the heap: its A and Bᵀ at this dtype, each 16-byte aligned. */
  blockBytes(a: LoraAdapter): number {
    return blockBytesAt(a, this.#elt);
  }

  /** Whether `a`'s matrices are in a block of the heap. */
  has(a: LoraAdapter): boolean { return this.#slots.has(a); }
  /** Whether release dropped `a`'s matrices ({ discard: true }): it must not be used again. */
  discarded(a: LoraAdapter): boolean { return this.#discarded.has(a); }

  /**
   * Write `a`'s A and Bᵀ, in the kernel's layout, into one block of the heap (the pairs' Ak and
   * Bt); false (nothing changed) when no block can be had, and the adapter keeps working from
   * its own arrays. A and B are not touched: references to them stay good while it is resident
   * and after. NOTE: the block is a copy taken here: a change to A or B made while the adapter
   * is resident reaches the kernels only through release and a new place.
   */
  place(a: LoraAdapter): boolean {
    const pairs = this.#take(a);
    if (!pairs) return false;
    const e = this.#elt;
    for (const p of pairs) {
      const n = p.inDim, d = p.outDim, r = (p.A.length / n) | 0; // | 0: integer indices in the packs, not doubles
      if (e === 4) {
        packA(p.Ak as Float32Array, 0, p.A, r, n);
        packBt(p.Bt as Float32Array, 0, p.B, d, r);
      } else { // the same layout, each value rounded to bf16
        this.#packRounded(p.Ak as Uint16Array, p.A.length, (f) => packA(f, 0, p.A, r, n));
        this.#packRounded(p.Bt as Uint16Array, p.B.length, (f) => packBt(f, 0, p.B, d, r));
      }
    }
    return true;
  }

  /**
   * place() with the block's bytes already made (packBlock at this dtype, e.g. on the thread
   * that read the adapter's files): the serving thread then only copies them in (one memcpy)
   * instead of packing and rounding. The same block, the same bits, as place() would write;
   * false when no block can be had. A block of another size than blockBytes(a) is a RangeError
   * (packed for another dtype or another adapter).
   */
  placePacked(a: LoraAdapter, block: Uint8Array): boolean {
    if (this.#slots.has(a)) return true;
    if (block.byteLength !== this.blockBytes(a)) throw new RangeError(`adapter ${a.id}: a packed block of ${block.byteLength} bytes, where its block at ${this.dtype} takes ${this.blockBytes(a)}`);
    if (!this.#take(a)) return false;
    new Uint8Array(this.#buffer!, this.#slots.get(a)!.start, block.byteLength).set(block);
    return true;
  }

  // a block for `a` and its pairs' Ak and Bt views on it, in the layout's order (contents not
  // written yet), the adapter resident; null when no block can be had (nothing changed); [] when
  // it is placed already
  #take(a: LoraAdapter): LoraPair[] | null {
    if (this.#slots.has(a)) return [];
    if (this.#discarded.has(a)) throw new AdapterDiscardedError(a.id);
    const bytes = this.blockBytes(a), e = this.#elt;
    const start = this.#alloc.alloc(bytes) ?? (this.#grow(bytes) ? this.#alloc.alloc(bytes) : null);
    if (start === null) return null;
    const buffer = this.#buffer!, pairs = blockPairs(a);
    let at = start;
    for (const p of pairs) {
      const nA = p.A.length, nB = p.B.length;
      p.Ak = e === 4 ? new Float32Array(buffer, at, nA) : new Uint16Array(buffer, at, nA);
      p.Bt = e === 4 ? new Float32Array(buffer, at + align(nA * 4), nB) : new Uint16Array(buffer, at + align(nA * 2), nB);
      at += align(nA * e) + align(nB * e);
    }
    a.resident = residentOffsets(a);
    a.residentBf16 = e === 2;
    notePlacement();
    this.#slots.set(a, { start, pairs });
    this.#count++;
    return pairs;
  }

  /**
   * Drop `a`'s kernel copies (Ak, Bt) and free its block for the next adapter: whoever still
   * holds the adapter keeps a correct one, read from its own A and B. A no-op when not placed.
   * `discard`: for a caller that drops the adapter with this call (the cache evicting one no
   * lease holds): its A and B become matrices whose every use throws AdapterDiscardedError (a
   * stale reference must not serve a dropped adapter as if it were still loaded).
   */
  release(a: LoraAdapter, opts: { discard?: boolean } = {}): void {
    const slot = this.#slots.get(a);
    if (!slot) return;
    const gone = opts.discard ? discardedMatrix(a.id) : null;
    for (const p of slot.pairs) {
      if (gone) {
        p.A = gone;
        p.B = gone; // nothing keeps the bytes A and B were parsed from alive
      }
      p.Ak = undefined; // not delete: the pair keeps its shape, and the hot path its fast property reads
      p.Bt = undefined;
    }
    if (gone) this.#discarded.add(a);
    a.resident = undefined;
    a.residentBf16 = undefined;
    notePlacement();
    this.#slots.delete(a);
    this.#count--;
    this.#alloc.free(slot.start);
  }

  // n values packed by `pack` into f32 scratch, rounded into dst: packed in the heap's own region
  // and rounded by the kernel where there is one, else in JS (the same bits)
  #packRounded(dst: Uint16Array, n: number, pack: (f: Float32Array) => void): void {
    const conv = this.#conv;
    if (conv && n <= conv.length) {
      pack(conv);
      if (heapToBf16(conv, dst, n)) return;
      this.#conv = null; // no kernel to round with: JS from now on
    }
    packRoundedJs(dst, n, pack);
  }

  /**
   * Whether placing `a` could add an arena to the heap: true while the cap leaves room for the
   * arena its block would need, free spans or not. False means place() takes memory only from
   * arenas already placed, which a caller in the middle of a forward step relies on
   * (adapter-cache.ts #finishEarly: a new arena would lie where the step's scratch is).
   */
  mayGrow(a: LoraAdapter): boolean {
    return this.#arenaFor(this.blockBytes(a)) > 0;
  }

  // the bytes of the arena a block of `bytes` would need, 0 when the cap or the heap says no
  #arenaFor(bytes: number): number {
    if (this.#heapless) return 0;
    const size = Math.max(this.#arena, align(bytes));
    return this.#alloc.arenaBytes + size <= this.#cap ? size : 0;
  }

  // place one more arena when the cap allows; false when it does not or the heap says no
  #grow(bytes: number): boolean {
    const size = this.#arenaFor(bytes);
    if (!size) return false;
    const region = this.#region(size / 4);
    if (!region) {
      this.#heapless = true;
      return false;
    }
    this.#alloc.addArena(region.byteOffset, size);
    this.#buffer = region.buffer;
    // Taken here, never mid-step: placing a region moves where a step's scratch starts, and a
    // load finished inside a step (adapter-cache.ts) only places when no arena can be added.
    if (this.#elt === 2 && this.#inHeap && !this.#conv) this.#conv = this.#region(CONV_FLOATS);
    return true;
  }
}
