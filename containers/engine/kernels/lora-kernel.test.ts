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
});
