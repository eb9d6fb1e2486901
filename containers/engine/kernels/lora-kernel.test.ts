// The Bᵀ LoRA kernel: the committed lora-kernel.wasm is what lora-kernel.wat builds to, and
// addLoraDelta on it gives lora.ts's answer (to fp32 summation order) for ranks and widths with
// and without vector tails, for adapters resident in the heap and copied per call alike.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildLoraKernel, LORA_WASM_PATH } from "./lora-kernel-build.ts";
import { AdapterSlots } from "./adapter-slots.ts";
import { addLoraDelta, addLoraDeltaGroup, addLoraDeltaStep, planLoraStep } from "./index.ts";
import { instantiateLoraKernel } from "./lora-kernel.ts";
import * as lora from "../lora.ts";
import { randArr, tinyConfig } from "../test-helpers.ts";
import { Rng } from "../rng.ts";

const f32 = (n: number, seed: number) => randArr(n, seed, Float32Array) as Float32Array;
// the readable reference for what the kernels compute: lora.ts on the adapters as the kernels
// hold them (rounded to bf16 where a row's adapter is resident in bf16)
const asHeld = (rows: ReadonlyArray<lora.LoraAdapter | null>) => {
  const copies = new Map<lora.LoraAdapter, lora.LoraAdapter>();
  return rows.map((a) => (a?.residentBf16 ? copies.get(a) ?? (copies.set(a, lora.loraRoundedToBf16(a)), copies.get(a)!) : a));
};

describe("Bᵀ LoRA kernel", () => {
  it("lora-kernel.wasm is up to date with lora-kernel.wat (rebuild: node containers/engine/kernels/lora-kernel-build.ts)", async () => {
    expect(Buffer.from(await buildLoraKernel()).equals(readFileSync(LORA_WASM_PATH))).toBe(true);
    // and it instantiates on a shared memory like the kernel heap's (else addLoraDelta would fall back)
    expect(instantiateLoraKernel(new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true })).kernel).not.toBeNull();
  });

  it("f32_to_bf16 rounds to nearest even as lora.toBf16 does, on a table of known cases and on random bit patterns, any length", () => {
    const mem = new WebAssembly.Memory({ initial: 4, maximum: 65536, shared: true });
    const k = instantiateLoraKernel(mem).kernel!;
    // [f32 bits, bf16 bits]: exact, ties to even (down and up), just past a tie, the largest
    // finite (past max + half an ulp: Inf), ±0, ±Inf, a subnormal, NaNs kept NaN (quiet, signed)
    const table: Array<[number, number]> = [
      [0x3f800000, 0x3f80], [0x3f808000, 0x3f80], [0x3f818000, 0x3f82], [0x3f808001, 0x3f81], [0xbf80ffff, 0xbf81],
      [0x7f7fffff, 0x7f80], [0x00000000, 0x0000], [0x80000000, 0x8000], [0x7f800000, 0x7f80], [0xff800000, 0xff80],
      [0x00000001, 0x0000], [0x7fa00000, 0x7fe0], [0xffc00001, 0xffc0], [0x7f800001, 0x7fc0],
    ];
    const rng = new Rng(5);
    const bits = [...table.map(([b]) => b), ...Array.from({ length: 4093 }, () => Math.floor(rng.next() * 2 ** 32) >>> 0)];
    const src = new Uint32Array(mem.buffer, 64, bits.length), dst = new Uint16Array(mem.buffer, 64 + 4 * bits.length + 16, bits.length);
    src.set(bits);
    k.f32_to_bf16(src.byteOffset, dst.byteOffset, bits.length);
    table.forEach(([f, b], i) => expect(dst[i], `0x${f.toString(16)}`).toBe(b));
    for (const n of [bits.length, 7, 1, 0]) { // lengths with and without a tail past the eight-value passes; nothing past n written
      dst.fill(0xabcd);
      k.f32_to_bf16(src.byteOffset, dst.byteOffset, n);
      const want = new Uint16Array(bits.length).fill(0xabcd);
      lora.toBf16(want, 0, new Float32Array(src.buffer, src.byteOffset, n));
      expect(Array.from(dst)).toEqual(Array.from(want));
    }
  });

  it.each(["f32", "bf16"] as const)("equals lora.ts for ranks 1..16 (eight, four and one rank a pass) and widths that are not multiples of 4, resident or copied, %s (lora.ts on the adapter rounded to it)", (dtype) => {
    const cfg = tinyConfig({ dim: 20, hiddenDim: 37 });
    const slots = new AdapterSlots({ capBytes: 1 << 20, dtype });
    for (const r of [1, 3, 4, 5, 8, 9, 12, 16]) {
      const copied = lora.createLora(cfg, { r, alpha: 2, dropout: 0, targets: ["q_proj", "down_proj", "gate_proj"] }, { seed: r, randomB: true });
      const placed = lora.createLora(cfg, { r, alpha: 2, dropout: 0, targets: ["q_proj", "down_proj", "gate_proj"] }, { seed: r, randomB: true });
      slots.place(placed);
      for (const [t, n, d] of [["q_proj", 20, 20], ["down_proj", 37, 20], ["gate_proj", 20, 37]] as const) {
        const x = f32(3 * n, r), base = f32(3 * d, 100 + r);
        // copied: the adapter as the placed one is held (its bf16 values, where it is bf16), read per call
        const held = asHeld([placed])[0]!;
        const want = Float32Array.from(base), got = Float32Array.from(base), gotPlaced = Float32Array.from(base);
        lora.addLoraDelta(want, x, [held, null, held], 0, t, n, d, new Float32Array(16));
        addLoraDelta(got, x, dtype === "f32" ? [copied, null, copied] : [held, null, held], 0, t, n, d, new Float32Array(16));
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
    const slots = new AdapterSlots({ capBytes: 1 << 20, dtype: "f32" }); // f32: resident and copied give the same bits
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

  it.each(["f32", "bf16"] as const)("a planned step gives the per-call path's bits on every layer and projection, and declines an adapter not resident (%s)", (dtype) => {
    const cfg = tinyConfig({ dim: 24, hiddenDim: 40, nLayers: 3 });
    const slots = new AdapterSlots({ capBytes: 1 << 20, dtype });
    const targets = ["q_proj", "v_proj", "down_proj"] as const;
    const mk = (seed: number, r: number, ts: lora.Target[]) => lora.createLora(cfg, { r, alpha: 2 * r, dropout: 0, targets: ts }, { seed, randomB: true });
    const a = mk(1, 8, ["q_proj", "v_proj"]), b = mk(2, 4, ["q_proj", "down_proj"]), c = mk(3, 5, ["v_proj"]);
    for (const x of [a, b, c]) expect(slots.place(x)).toBe(true);
    const check = (rows: Array<lora.LoraAdapter | null>) => {
      const plan = planLoraStep(rows, cfg.nLayers, targets)!;
      expect(plan).not.toBeNull();
      for (let l = 0; l < cfg.nLayers; l++)
        for (const [t, n, d] of [["q_proj", 24, 24], ["v_proj", 24, 12], ["down_proj", 40, 24]] as const) { // 4 heads, 2 KV heads: v is 12 wide
          const x = f32(rows.length * n, 10 * l + n), base = f32(rows.length * d, 20 * l + d);
          const perCall = Float32Array.from(base), planned = Float32Array.from(base), want = Float32Array.from(base);
          addLoraDelta(perCall, x, rows, l, t, n, d, new Float32Array(16));
          addLoraDeltaStep(plan, planned, x, l, t, n, d, new Float32Array(16));
          lora.addLoraDelta(want, x, asHeld(rows), l, t, n, d, new Float32Array(16));
          expect(Array.from(planned)).toEqual(Array.from(perCall));
          for (let i = 0; i < want.length; i++) expect(Math.abs(planned[i]! - want[i]!)).toBeLessThan(2e-5 * (1 + Math.abs(want[i]!)));
        }
    };
    check([a, null, b, a, c, b]); // shared, distinct, a row without an adapter, ranks with a tail
    check([a, null, b, a, c, b]); // the same rows again: the tables as they were
    check([b, a, null, a, c, null]); // rows changed in place, some to none: only those rewritten
    check([c, c]); // fewer rows: all anew
    slots.release(c);
    expect(c.resident).toBeUndefined();
    expect(planLoraStep([a, null, b, a, c, b], cfg.nLayers, targets)).toBeNull(); // c is no longer in the heap: the caller copies per call
    check([a, null, b, a, b, b]);
    slots.release(a);
    expect(slots.place(c)).toBe(true); // c back, in the block a had
    expect(slots.place(a)).toBe(true); // a elsewhere: its old offsets now hold c's matrices
    check([a, null, b, a, c, b]);
    slots.release(a);
    slots.release(b);
  });

  it.each(["f32", "bf16"] as const)("a group call (projections sharing an input, in one pass over the rows) gives each projection the bits of its own call (%s)", (dtype) => {
    const cfg = tinyConfig({ dim: 24, hiddenDim: 40, nLayers: 2 });
    const slots = new AdapterSlots({ capBytes: 1 << 20, dtype });
    const mk = (seed: number, r: number, ts: lora.Target[]) => lora.createLora(cfg, { r, alpha: 2 * r, dropout: 0, targets: ts }, { seed, randomB: true });
    const ads = [mk(1, 8, ["q_proj", "v_proj"]), mk(2, 5, ["q_proj", "k_proj", "v_proj", "up_proj"]), mk(3, 4, ["k_proj", "gate_proj", "up_proj"]), mk(4, 12, ["gate_proj"])];
    for (const a of ads) expect(slots.place(a)).toBe(true);
    const rows = [ads[0]!, null, ads[1]!, ads[2]!, ads[0]!, ads[3]!, ads[1]!];
    const plan = planLoraStep(rows, cfg.nLayers, ["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"])!;
    expect(plan).not.toBeNull();
    const B = rows.length, n = 24;
    for (let l = 0; l < cfg.nLayers; l++)
      for (const group of [["q_proj", "k_proj", "v_proj"], ["gate_proj", "up_proj"], ["v_proj", "q_proj"]] as lora.Target[][]) {
        const x = f32(B * n, 3 + l), dims = group.map((t) => lora.projectionDims(cfg, t)[1]);
        const bases = dims.map((d, i) => f32(B * d, 40 + 10 * l + i));
        const one = bases.map((b) => Float32Array.from(b)), fused = bases.map((b) => Float32Array.from(b)), want = bases.map((b) => Float32Array.from(b));
        group.forEach((t, i) => {
          addLoraDeltaStep(plan, one[i]!, x, l, t, n, dims[i]!, new Float32Array(16));
          lora.addLoraDelta(want[i]!, x, asHeld(rows), l, t, n, dims[i]!, new Float32Array(16));
        });
        addLoraDeltaGroup(plan, x, n, l, group.map((t, i) => [t, fused[i]!, dims[i]!] as const), new Float32Array(16));
        group.forEach((t, i) => {
          expect(Array.from(fused[i]!), `layer ${l} ${t}`).toEqual(Array.from(one[i]!));
          for (let k = 0; k < want[i]!.length; k++) expect(Math.abs(fused[i]![k]! - want[i]![k]!)).toBeLessThan(2e-5 * (1 + Math.abs(want[i]![k]!)));
        });
        expect(fused.some((o, i) => o.some((v, k) => v !== bases[i]![k]))).toBe(true); // some row had some of them
      }
    for (const a of ads) slots.release(a);
  });

  it.each(["listed", "as the rows need"] as const)("a plan kept from step to step stays the per-call path's bits through random places, releases and row changes, shifts and prefill runs (targets %s)", (mode) => {
    // the plan cache's invariant (tables = what the rows' adapters say now) under what serving does
    // between steps: adapters placed, evicted, placed again elsewhere; rows joining, leaving, changing
    const cfg = tinyConfig({ dim: 24, hiddenDim: 40, nLayers: 3 });
    const slots = new AdapterSlots({ capBytes: 1 << 20 });
    const rng = new Rng(42), pick = <T>(xs: readonly T[]) => xs[Math.floor(rng.next() * xs.length)]!;
    const ads = Array.from({ length: 10 }, (_, i) => lora.createLora(cfg, { r: 1 + (i % 9), alpha: 3, dropout: 0, targets: lora.TARGETS.filter((_, j) => (i + j) % 3 !== 0) }, { seed: i, randomB: true }));
    const row = () => (rng.next() < 0.2 ? null : pick(ads.some((a) => a.resident) ? ads.filter((a) => a.resident) : ads));
    let rows: Array<lora.LoraAdapter | null> = [], plans = 0, refused = 0;
    const checked = new Set<lora.LoraAdapter>(), context = {}; // as needed: each adapter a row takes up is checked, rows carried over were before
    for (let step = 0; step < 800; step++) {
      for (let k = Math.floor(rng.next() * 4); k > 0; k--) { // between two steps: up to three places and releases
        if (rng.next() < 0.6) slots.place(pick(ads));
        else slots.release(pick(ads));
      }
      const u = rng.next();
      if (rows.length && u < 0.4) { // the same rows, up to two changed in place
        rows = [...rows];
        for (let k = Math.floor(rng.next() * 3); k > 0; k--) rows[Math.floor(rng.next() * rows.length)] = row();
      } else if (rows.length && u < 0.8) { // sequences leave (the rows after them shift), one joins with a prefill run
        rows = [...rows];
        for (let k = Math.floor(rng.next() * 3); k > 0 && rows.length; k--) rows.splice(Math.floor(rng.next() * rows.length), 1);
        const a = row(), at = Math.floor(rng.next() * (rows.length + 1));
        rows.splice(at, 0, ...new Array<lora.LoraAdapter | null>(1 + Math.floor(rng.next() * 4)).fill(a));
      } else rows = Array.from({ length: 1 + Math.floor(rng.next() * 12) }, row);
      const targets = [...new Set(rows.flatMap((a) => a?.config.targets ?? []))];
      if (!targets.length) continue;
      const plan = mode === "listed" ? planLoraStep(rows, cfg.nLayers, targets) : planLoraStep(rows, cfg.nLayers, null, (a) => checked.add(a), context);
      if (!plan) { refused++; expect(rows.some((a) => a && !a.resident)).toBe(true); continue; }
      if (mode !== "listed") for (const a of rows) if (a) expect(checked.has(a)).toBe(true);
      plans++;
      for (let l = 0; l < cfg.nLayers; l++)
        for (const t of targets) {
          const [n, d] = lora.projectionDims(cfg, t), B = rows.length;
          const x = f32(B * n, 7 * step + l), base = f32(B * d, 11 * step + l);
          const perCall = Float32Array.from(base), planned = Float32Array.from(base);
          addLoraDelta(perCall, x, rows, l, t, n, d, new Float32Array(16));
          addLoraDeltaStep(plan, planned, x, l, t, n, d, new Float32Array(16));
          if (planned.some((v, i) => !Object.is(v, perCall[i]))) expect(Array.from(planned), `step ${step}, layer ${l}, ${t}`).toEqual(Array.from(perCall));
        }
    }
    expect(plans).toBeGreaterThan(300); // the cache was exercised, not refused throughout
    expect(refused).toBeGreaterThan(0); // and some steps had an adapter not resident
    for (const a of ads) slots.release(a);
  });
});
