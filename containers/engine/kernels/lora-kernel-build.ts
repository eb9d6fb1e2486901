// Builds lora-kernel.wasm from lora-kernel.wat with wabt, as build.ts does for kernels.wat.
//   node containers/engine/kernels/lora-kernel-build.ts          write lora-kernel.wasm
// lora-kernel.test.ts calls buildLoraKernel() and compares with the committed file, so a .wat
// edit without a rebuild fails the tests.
import { writeFileSync } from "node:fs";
import { assembleWat } from "./build.ts";

export const LORA_WAT_PATH = new URL("./lora-kernel.wat", import.meta.url);
export const LORA_WASM_PATH = new URL("./lora-kernel.wasm", import.meta.url);

/** lora-kernel.wat assembled (SIMD and shared memory enabled), without debug names. */
export const buildLoraKernel = (): Promise<Uint8Array> => assembleWat(LORA_WAT_PATH, { simd: true, relaxed_simd: true, threads: true });

if (import.meta.main) {
  const bytes = await buildLoraKernel();
  writeFileSync(LORA_WASM_PATH, bytes);
  console.log(`wrote ${LORA_WASM_PATH.pathname} (${bytes.length} bytes)`);
}
