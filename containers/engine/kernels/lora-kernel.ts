// Loads lora-kernel.wasm (the batched LoRA delta with B transposed) on the kernel heap's memory.
import { readFileSync } from "node:fs";

export interface LoraKernel {
  /** out[b] += Bᵀᵀ·(scale · A·x[b]) per row b of the table (A offset, Bᵀ offset, r, scale); byte offsets. */
  lora_rows_t(out: number, x: number, table: number, rows: number, n: number, d: number, mid: number): void;
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
