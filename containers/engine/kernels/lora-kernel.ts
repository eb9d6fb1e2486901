// Loads lora-kernel.wasm (the batched LoRA delta with B transposed) on the kernel heap's memory.
import { readFileSync } from "node:fs";

export interface LoraKernel {
  /**
   * Rows b0..b1 of nproj projections sharing the input x (rows, n): per projection j, the
   * descriptor at desc + 16·j (its row table, its output, d_j), and per row out_j[b] +=
   * Bᵀᵀ·(scale · A·x[b]) from the table's entry (A offset, Bᵀ offset, rank | BF16, scale); byte
   * offsets, mid: scratch for the largest rank.
   */
  lora_rows_t(desc: number, nproj: number, x: number, n: number, b0: number, b1: number, mid: number): void;
  /** n f32 values at src (byte offset) as bf16 bits at dst, rounded to nearest even (lora.ts toBf16's rounding). */
  f32_to_bf16(src: number, dst: number, n: number): void;
}

/** How the kernels hold adapters' A and Bᵀ: f32, or bf16 (half the bytes; the arithmetic stays f32). */
export type AdapterDtype = "f32" | "bf16";

const checkDtype = (v: string, from: string): AdapterDtype => {
  if (v === "f32" || v === "bf16") return v;
  throw new RangeError(`${from} must be f32 or bf16, got ${JSON.stringify(v)}`);
};
const dtype: AdapterDtype = process.env.ENGINE_ADAPTER_DTYPE ? checkDtype(process.env.ENGINE_ADAPTER_DTYPE, "ENGINE_ADAPTER_DTYPE") : "bf16";

/**
 * How AdapterSlots store resident adapters unless told otherwise (the AdapterCache's, which the
 * serving path runs on): ENGINE_ADAPTER_DTYPE (f32 or bf16), else bf16. An adapter not resident
 * is read from its own f32 arrays, on the kernels and on the TS reference path alike.
 */
export function adapterDtype(): AdapterDtype {
  return dtype;
}

export const LORA_KERNEL_WASM = new URL("./lora-kernel.wasm", import.meta.url);

/** The kernel on `memory`, or null (with the reason) when this runtime cannot instantiate it. */
export function instantiateLoraKernel(memory: WebAssembly.Memory): { kernel: LoraKernel | null; reason?: string } {
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(LORA_KERNEL_WASM)), { env: { memory } });
    return { kernel: instance.exports as unknown as LoraKernel };
  } catch (e) {
    return { kernel: null, reason: e instanceof Error ? e.message : String(e) };
  }
}

// ── the kernel's layout of A and Bᵀ (the top of lora-kernel.wat): a reordering within each
// group of ranks' rows, so each matrix is one sequential stream in the order the kernel reads it ──

/** A (r, n), PEFT's lora_A layout, written into dst from `at` (floats) in the kernel's layout: r·n floats. */
export function packA(dst: Float32Array, at: number, A: Float32Array, r: number, n: number): void {
  let k = 0, w = at;
  if (n % 4 === 0) {
    for (; k + 8 <= r; k += 8) // groups of 8 ranks: [n/4][8][4]
      for (let j = 0; j < n; j += 4)
        for (let i = 0, s = k * n + j; i < 8; i++, s += n, w += 4) { dst[w] = A[s]!; dst[w + 1] = A[s + 1]!; dst[w + 2] = A[s + 2]!; dst[w + 3] = A[s + 3]!; }
    for (; k + 4 <= r; k += 4) // then one of 4: [n/4][4][4]
      for (let j = 0; j < n; j += 4)
        for (let i = 0, s = k * n + j; i < 4; i++, s += n, w += 4) { dst[w] = A[s]!; dst[w + 1] = A[s + 1]!; dst[w + 2] = A[s + 2]!; dst[w + 3] = A[s + 3]!; }
  }
  if (k < r) dst.set(A.subarray(k * n, r * n), w); // the ranks left over: plain rows
}

/** Bᵀ (r, d) in the kernel's layout from B (d, r), PEFT's lora_B layout, written into dst from `at` (floats): d·r floats. */
export function packBt(dst: Float32Array, at: number, B: Float32Array, d: number, r: number): void {
  const d4 = d & ~3;
  let k = 0;
  for (; k + 4 <= r; k += 4) { // groups of 4 ranks: [d4/4][4][4], then [d - d4][4]
    let w = at + k * d;
    for (let j = 0; j < d4; j += 4, w += 16)
      for (let q = 0, s = j * r + k; q < 4; q++, s += r) { dst[w + q] = B[s]!; dst[w + 4 + q] = B[s + 1]!; dst[w + 8 + q] = B[s + 2]!; dst[w + 12 + q] = B[s + 3]!; }
    for (let j = d4, s = d4 * r + k; j < d; j++, s += r, w += 4) { dst[w] = B[s]!; dst[w + 1] = B[s + 1]!; dst[w + 2] = B[s + 2]!; dst[w + 3] = B[s + 3]!; }
  }
  for (; k < r; k++) for (let j = 0, s = k, w = at + k * d; j < d; j++, s += r) dst[w + j] = B[s]!; // the ranks left over: plain rows of Bᵀ
}
