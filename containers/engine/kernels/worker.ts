// One kernel worker (see threads.ts): kernels.wasm and lora-kernel.wasm instantiated on the shared heap, then a loop
// that sleeps on the generation counter, runs the slice written into its slot, and stamps it
// done. It needs no event loop: the main thread reaches it through the heap alone.
import { workerData } from "node:worker_threads";
import { KERNEL_NAMES, LAYOUT, type WorkerInit } from "./threads.ts";

const { GEN, DONE, READY, TASK_GEN, DONE_GEN, FAILED, KERNEL, NARGS, ARGS, ERR, ERR_BYTES } = LAYOUT;

const init = workerData as WorkerInit;
const instance = new WebAssembly.Instance(new WebAssembly.Module(init.wasm), { env: { memory: init.memory, log: Math.log } });
const lora = init.loraWasm ? new WebAssembly.Instance(new WebAssembly.Module(init.loraWasm), { env: { memory: init.memory } }).exports : {};
const kernels = { ...instance.exports, ...lora } as Record<string, (...args: number[]) => unknown>;
const ctl = new Int32Array(init.memory.buffer, init.ctl);
const s = init.slot;

let seen = Atomics.load(ctl, GEN);
Atomics.store(ctl, s + READY, 1);
for (;;) {
  Atomics.wait(ctl, GEN, seen);
  const gen = Atomics.load(ctl, GEN);
  seen = gen;
  if (Atomics.load(ctl, s + TASK_GEN) !== gen) continue; // no slice for this worker this time
  const id = ctl[s + KERNEL]!;
  if (id === -1) process.exit(1); // tests: die in the middle of a call, as a crashed worker would
  const args = Array.from(ctl.subarray(s + ARGS, s + ARGS + ctl[s + NARGS]!));
  try {
    kernels[KERNEL_NAMES[id]!]!(...args);
  } catch (e) {
    ctl[s + FAILED] = 1;
    const msg = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).subarray(0, ERR_BYTES - 1);
    const bytes = new Uint8Array(ctl.buffer, ctl.byteOffset + (s + ERR) * 4, ERR_BYTES);
    bytes.fill(0);
    bytes.set(msg);
  }
  Atomics.store(ctl, s + DONE_GEN, gen);
  Atomics.add(ctl, DONE, 1);
  Atomics.notify(ctl, DONE);
}
