// The bytes of a resident adapter's block in the kernel heap (AdapterSlots, adapter-slots.ts),
// made without a heap: its layout (pair by pair, A then Bᵀ in the kernel's layout, each 16-byte
// aligned) and packBlock. A module of its own with no import of the kernels, so the thread that
// reads cold adapters' files (adapter-load-worker.ts) can pack a block without loading the
// kernel heap and its WebAssembly modules.
import { toBf16, type LoraAdapter, type LoraPair } from "../lora.ts";
import { packA, packBt, type AdapterDtype } from "./lora-kernel.ts";

/** `bytes` rounded up to the kernels' 16-byte alignment (their SIMD loads). */
export const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

// f32 scratch for packing before the rounding to bf16, grown as needed and kept
let buf = new Float32Array(0);
const scratch = (n: number) => (buf.length >= n ? buf : (buf = new Float32Array(n)));

/** n values packed by `pack` into f32 scratch, then rounded to bf16 into dst in JS (lora.ts toBf16). */
export function packRoundedJs(dst: Uint16Array, n: number, pack: (f: Float32Array) => void): void {
  const f = scratch(n);
  pack(f);
  toBf16(dst, 0, f.subarray(0, n));
}

// A block's pairs in the order they lie in it: layer by layer, each layer's pairs in their own order
export function blockPairs(a: LoraAdapter): LoraPair[] {
  const pairs: LoraPair[] = [];
  for (const layer of a.layers) for (const p of Object.values(layer) as LoraPair[]) pairs.push(p);
  return pairs;
}

export function blockBytesAt(a: LoraAdapter, elt: number): number {
  let bytes = 0;
  for (const p of blockPairs(a)) bytes += align(p.A.length * elt) + align(p.B.length * elt);
  return bytes;
}

/**
 * The bytes AdapterSlots.place writes into `a`'s block at `dtype` (each pair's A then Bᵀ in the
 * kernel's layout, each 16-byte aligned, padding zero), made without a heap: for the thread
 * that reads a cold adapter's files (adapter-load-worker.ts), so that placing it on the serving
 * thread is one copy (placePacked). bf16 is rounded in JS here (lora.ts toBf16: the bits the
 * kernel's f32_to_bf16 gives).
 */
export function packBlock(a: LoraAdapter, dtype: AdapterDtype): Uint8Array {
  const e = dtype === "bf16" ? 2 : 4;
  const block = new Uint8Array(blockBytesAt(a, e));
  let at = 0;
  for (const p of blockPairs(a)) {
    const n = p.inDim, d = p.outDim, nA = p.A.length, nB = p.B.length, r = (nA / n) | 0;
    if (e === 4) {
      packA(new Float32Array(block.buffer, at, nA), 0, p.A, r, n);
      packBt(new Float32Array(block.buffer, at + align(nA * 4), nB), 0, p.B, d, r);
    } else {
      packRoundedJs(new Uint16Array(block.buffer, at, nA), nA, (f) => packA(f, 0, p.A, r, n));
      packRoundedJs(new Uint16Array(block.buffer, at + align(nA * 2), nB), nB, (f) => packBt(f, 0, p.B, d, r));
    }
    at += align(nA * e) + align(nB * e);
  }
  return block;
}
