// The Bᵀ LoRA kernel: the committed lora-kernel.wasm is what lora-kernel.wat builds to, and
// addLoraDelta on it gives lora.ts's answer (to fp32 summation order) for ranks and widths with
// and without vector tails, for adapters resident in the heap and copied per call alike.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildLoraKernel, LORA_WASM_PATH } from "./lora-kernel-build.ts";
import { AdapterSlots } from "./adapter-slots.ts";
import { addLoraDelta } from "./index.ts";
import { instantiateLoraKernel } from "./lora-kernel.ts";
import * as lora from "../lora.ts";
import { randArr, tinyConfig } from "../test-helpers.ts";

const f32 = (n: number, seed: number) => randArr(n, seed, Float32Array) as Float32Array;

describe("Bᵀ LoRA kernel", () => {
  it("lora-kernel.wasm is up to date with lora-kernel.wat (rebuild: node containers/engine/kernels/lora-kernel-build.ts)", async () => {
    expect(Buffer.from(await buildLoraKernel()).equals(readFileSync(LORA_WASM_PATH))).toBe(true);
    // and it instantiates on a shared memory like the kernel heap's (else addLoraDelta would fall back)
    expect(instantiateLoraKernel(new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true })).kernel).not.toBeNull();
  });

  it("equals lora.ts for ranks 1..9 and widths that are not multiples of 4, resident or copied", () => {
    const cfg = tinyConfig({ dim: 20, hiddenDim: 37 });
    const slots = new AdapterSlots({ capBytes: 1 << 20 });
    for (const r of [1, 3, 4, 5, 8, 9]) {
      const copied = lora.createLora(cfg, { r, alpha: 2, dropout: 0, targets: ["q_proj", "down_proj", "gate_proj"] }, { seed: r, randomB: true });
      const placed = lora.createLora(cfg, { r, alpha: 2, dropout: 0, targets: ["q_proj", "down_proj", "gate_proj"] }, { seed: r, randomB: true });
      slots.place(placed);
      for (const [t, n, d] of [["q_proj", 20, 20], ["down_proj", 37, 20], ["gate_proj", 20, 37]] as const) {
        const x = f32(3 * n, r), base = f32(3 * d, 100 + r);
        const want = Float32Array.from(base), got = Float32Array.from(base), gotPlaced = Float32Array.from(base);
        lora.addLoraDelta(want, x, [copied, null, copied], 0, t, n, d, new Float32Array(16));
        addLoraDelta(got, x, [copied, null, copied], 0, t, n, d, new Float32Array(16));
        addLoraDelta(gotPlaced, x, [placed, null, placed], 0, t, n, d, new Float32Array(16));
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
        expect(worst).toBeLessThan(2e-5);
        expect(Array.from(gotPlaced)).toEqual(Array.from(got));
        expect(got.subarray(d, 2 * d)).toEqual(base.subarray(d, 2 * d)); // the row without an adapter
      }
      slots.release(placed);
    }
  });

  it("follows an adapter through place, release and a new place (the kernels' note of where it lies is never stale)", () => {
    const cfg = tinyConfig({ dim: 24, hiddenDim: 40 });
    const slots = new AdapterSlots({ capBytes: 1 << 20 });
    const a = lora.createLora(cfg, { r: 8, alpha: 16, dropout: 0, targets: ["q_proj", "v_proj"] }, { seed: 7, randomB: true });
    const other = lora.createLora(cfg, { r: 4, alpha: 4, dropout: 0, targets: ["q_proj"] }, { seed: 8, randomB: true });
    const n = 24, d = 24, x = f32(4 * n, 1), base = f32(4 * d, 2);
    const run = () => {
      const got = Float32Array.from(base);
      addLoraDelta(got, x, [a, other, null, a], 0, "q_proj", n, d, new Float32Array(16));
      return Array.from(got);
    };
    const want = Float32Array.from(base);
    lora.addLoraDelta(want, x, [a, other, null, a], 0, "q_proj", n, d, new Float32Array(16));
    const copied = run();
    for (let i = 0; i < want.length; i++) expect(Math.abs(copied[i]! - want[i]!)).toBeLessThan(2e-5 * (1 + Math.abs(want[i]!)));
    slots.place(a);
    expect(run()).toEqual(copied);
    slots.release(a);
    slots.place(other); // takes the block a had: a's old offsets now hold other's matrices
    expect(run()).toEqual(copied);
    slots.place(a);
    expect(run()).toEqual(copied);
    slots.release(a); // its block still holds its matrices: a stale note would still read them
    a.layers[0]!.q_proj!.B.fill(0);
    expect(run()).not.toEqual(copied); // released: read from its own B again, now zero
  });
});
