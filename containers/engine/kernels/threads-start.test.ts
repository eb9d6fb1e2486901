// The first kernel call big enough to split starts the worker threads, which places their
// control block in the heap: it must not land on the scratch that call has already staged.
// A file of its own: the threads must not have been started by an earlier test in the process.
import { describe, expect, it } from "vitest";
import { kernelPath, matmul, matmulBackward, threadCount } from "./index.ts";
import * as ref from "../ops.ts";
import { randArr } from "../test-helpers.ts";

const f32 = (n: number, seed: number) => randArr(n, seed, Float32Array) as Float32Array;
const close = (got: Float32Array, want: Float32Array) => {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
  return worst;
};

describe("starting the kernel threads", () => {
  it("the call that starts them (arguments copied into scratch) gives the reference's answer", () => {
    process.env.ENGINE_THREADS = "2"; // read when the first big call decides; 2 whatever the machine has
    expect(threadCount().pool).toBeNull(); // not started yet
    const [T, n, d] = [96, 80, 70]; // T·n·d ≥ 2 slices of work: this call starts the pool
    const x = f32(T * n, 1), w = f32(d * n, 2), out = new Float32Array(T * d), want = new Float32Array(T * d);
    matmul(out, x, w, T, n, d); // ordinary arrays: x and w are copied into scratch first
    ref.matmul(want, x, w, T, n, d);
    if (kernelPath() === "wasm-simd") expect(threadCount().pool).not.toBeNull();
    expect(close(out, want)).toBeLessThan(1e-5);
  });
});
