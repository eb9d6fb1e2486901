// Builds kernels.wasm from kernels.wat with wabt (an npm package: no toolchain download).
//   node containers/engine/kernels/build.ts          write kernels.wasm
// kernels.test.ts calls buildKernels() and compares with the committed file, so a .wat edit
// without a rebuild fails the tests.
import { readFileSync, writeFileSync } from "node:fs";
import wabtInit from "wabt";

export const WAT_PATH = new URL("./kernels.wat", import.meta.url);
export const WASM_PATH = new URL("./kernels.wasm", import.meta.url);

/** A .wat file assembled with the given wabt features, without debug names. */
export async function assembleWat(wat: URL, features: Record<string, boolean>): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat(wat.pathname.split("/").pop()!, readFileSync(wat, "utf8"), features);
  try {
    (mod.validate as (features: object) => void)(features); // the typings omit the features argument it takes
    return new Uint8Array(mod.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    mod.destroy();
  }
}

/** kernels.wat assembled (SIMD and shared memory enabled). */
export const buildKernels = (): Promise<Uint8Array> => assembleWat(WAT_PATH, { simd: true, relaxed_simd: true, threads: true, bulk_memory: true });

if (import.meta.main) {
  const bytes = await buildKernels();
  writeFileSync(WASM_PATH, bytes);
  console.log(`wrote ${WASM_PATH.pathname} (${bytes.length} bytes)`);
}
