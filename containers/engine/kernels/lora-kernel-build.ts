// Builds lora-kernel.wasm from lora-kernel.wat with wabt, as build.ts does for kernels.wat.
//   node containers/engine/kernels/lora-kernel-build.ts          write lora-kernel.wasm
// lora-kernel.test.ts calls buildLoraKernel() and compares with the committed file, so a .wat
// edit without a rebuild fails the tests.
import { readFileSync, writeFileSync } from "node:fs";
import wabtInit from "wabt";

export const LORA_WAT_PATH = new URL("./lora-kernel.wat", import.meta.url);
export const LORA_WASM_PATH = new URL("./lora-kernel.wasm", import.meta.url);

/** lora-kernel.wat assembled (SIMD and shared memory enabled), without debug names. */
export async function buildLoraKernel(): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const features = { simd: true, relaxed_simd: true, threads: true };
  const mod = wabt.parseWat("lora-kernel.wat", readFileSync(LORA_WAT_PATH, "utf8"), features);
  try {
    (mod.validate as (features: object) => void)(features); // the typings omit the features argument it takes
    return new Uint8Array(mod.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    mod.destroy();
  }
}

if (import.meta.main) {
  const bytes = await buildLoraKernel();
  writeFileSync(LORA_WASM_PATH, bytes);
  console.log(`wrote ${LORA_WASM_PATH.pathname} (${bytes.length} bytes)`);
}
