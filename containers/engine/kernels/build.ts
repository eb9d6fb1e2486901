// Builds kernels.wasm from kernels.wat with wabt (an npm package: no toolchain download).
//   node containers/engine/kernels/build.ts          write kernels.wasm
// kernels.test.ts calls buildKernels() and compares with the committed file, so a .wat edit
// without a rebuild fails the tests.
import { readFileSync, writeFileSync } from "node:fs";
import wabtInit from "wabt";

export const WAT_PATH = new URL("./kernels.wat", import.meta.url);
export const WASM_PATH = new URL("./kernels.wasm", import.meta.url);

/** kernels.wat assembled (SIMD and shared memory enabled), without debug names. */
export async function buildKernels(): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const features = { simd: true, relaxed_simd: true, threads: true, bulk_memory: true };
  const mod = wabt.parseWat("kernels.wat", readFileSync(WAT_PATH, "utf8"), features);
  try {
    (mod.validate as (features: object) => void)(features); // the typings omit the features argument it takes
    return new Uint8Array(mod.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    mod.destroy();
  }
}

if (import.meta.main) {
  const bytes = await buildKernels();
  writeFileSync(WASM_PATH, bytes);
  console.log(`wrote ${WASM_PATH.pathname} (${bytes.length} bytes)`);
}
