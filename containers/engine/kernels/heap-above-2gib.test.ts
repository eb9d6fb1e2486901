// The kernel heap addresses up to 4 GiB: byte offsets past 2 GiB do not fit an int32, and must
// still be read as offsets (the kernels take them unsigned), not as "none" or as negative
// indices. A file of its own: the heap grows past 2 GiB for good in this process (address
// space only, the pages are never touched).
import { afterAll, describe, expect, it, vi } from "vitest";
import { AdapterSlots } from "./adapter-slots.ts";
import { addLoraDelta, addLoraDeltaStep, heapFloats, kernelPath, matmul, placeRegion, planLoraStep } from "./index.ts";
import * as lora from "../lora.ts";
import * as ref from "../ops.ts";
import { randArr, tinyConfig } from "../test-helpers.ts";

const f32 = (n: number, seed: number) => randArr(n, seed, Float32Array) as Float32Array;
const worst = (got: Float32Array, want: Float32Array) => {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
  return m;
};

describe.runIf(kernelPath() === "wasm-simd")("the kernel heap past 2 GiB", () => {
  const fallbacks = vi.spyOn(process, "emitWarning");
  afterAll(() => fallbacks.mockRestore());
  const below = placeRegion(2 ** 29); // 2 GiB placed for good: what is placed from here on lies past it

  it("a matmul whose arguments are copied into scratch there runs on the kernel, with the reference's answer", () => {
    expect(below).not.toBeNull();
    const [T, n, d] = [4, 16, 12], x = f32(T * n, 1), w = f32(d * n, 2), got = new Float32Array(T * d), want = new Float32Array(T * d);
    matmul(got, x, w, T, n, d);
    ref.matmul(want, x, w, T, n, d);
    expect(worst(got, want)).toBeLessThan(1e-5);
    expect(fallbacks).not.toHaveBeenCalled(); // not the reference run instead
  });

  it("an adapter placed there: the per-call and the planned delta both add it", () => {
    const cfg = tinyConfig({ dim: 24, hiddenDim: 40 });
    const slots = new AdapterSlots({ capBytes: 1 << 20 });
    const a = lora.createLora(cfg, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj"] }, { seed: 1, randomB: true });
    expect(slots.place(a)).toBe(true);
    expect(a.layers[0]!.q_proj!.Ak!.byteOffset).toBeGreaterThanOrEqual(2 ** 31);
    const B = 8, n = 24, d = 24, rows = Array.from({ length: B }, (_, i) => (i % 3 === 2 ? null : a));
    const x = heapFloats(B * n), base = f32(B * d, 4); // x in the heap too: read in place, past 2 GiB
    x.set(f32(B * n, 3));
    const want = Float32Array.from(base), held = a.residentBf16 ? lora.loraRoundedToBf16(a) : a; // the reference on the values the block holds
    lora.addLoraDelta(want, x, rows.map((r) => r && held), 0, "q_proj", n, d, new Float32Array(16));
    expect(worst(want, base)).toBeGreaterThan(0.01); // the delta is not nothing
    const perCall = heapFloats(B * d);
    perCall.set(base);
    addLoraDelta(perCall, x, rows, 0, "q_proj", n, d, new Float32Array(16));
    expect(worst(perCall, want)).toBeLessThan(2e-5);
    const plan = planLoraStep(rows, cfg.nLayers, ["q_proj", "v_proj"]);
    expect(plan).not.toBeNull();
    const planned = Float32Array.from(base);
    addLoraDeltaStep(plan!, planned, x, 0, "q_proj", n, d, new Float32Array(16));
    expect(Array.from(planned)).toEqual(Array.from(perCall));
    expect(fallbacks).not.toHaveBeenCalled();
    slots.release(a);
  });
});
