// Step plans carried over between forward() steps (planLoraStep): what a carried row skips (the
// check, the target set's widening) is only skipped where the last plan did it for the same thing.
import { describe, expect, it } from "vitest";
import { AdapterSlots } from "./adapter-slots.ts";
import { planLoraStep } from "./index.ts";
import { createKvCache, createRunState, forward, ModelError } from "../model.ts";
import * as lora from "../lora.ts";
import { tinyConfig, tinyModel } from "../test-helpers.ts";

describe("step plans", () => {
  it("forward() checks a carried row's rank against its own RunState: a plan made with another RunState is not carried over unchecked", () => {
    const m = tinyModel(1), c = m.config, kv = createKvCache(c);
    const slots = new AdapterSlots({ capBytes: 1 << 20 });
    const a = lora.createLora(c, { r: 8, alpha: 16, dropout: 0, targets: ["q_proj", "v_proj"] }, { seed: 3, randomB: true });
    expect(slots.place(a)).toBe(true);
    const rows = (n: number) => Array.from({ length: n }, (_, pos) => ({ token: 1, pos, kv, adapter: a }));
    try {
      forward(m, rows(8), createRunState(c, 8, 64)); // a planned step (8 rows): rank 8 fits
      const small = createRunState(c, 8, 4);
      expect(() => forward(m, rows(2), small)).toThrow(ModelError); // unplanned: checked per call
      expect(() => forward(m, rows(8), small)).toThrow(/rank 8 exceeds RunState maxRank 4/); // planned: the same rows, another RunState
    } finally {
      slots.release(a);
    }
  });

  it("a plan for the targets its rows need (null) does not inherit an explicit plan's narrower target set", () => {
    const cfg = tinyConfig({ dim: 24, hiddenDim: 40 });
    const slots = new AdapterSlots({ capBytes: 1 << 20 });
    const a = lora.createLora(cfg, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj"] }, { seed: 5, randomB: true });
    expect(slots.place(a)).toBe(true);
    try {
      const rows = new Array<lora.LoraAdapter | null>(8).fill(a), ctx = {}, q = lora.TARGETS.indexOf("q_proj"), v = lora.TARGETS.indexOf("v_proj");
      const listed = planLoraStep(rows, cfg.nLayers, ["q_proj"], undefined, ctx)!;
      expect(listed).not.toBeNull();
      expect([listed.has[q], listed.has[v]]).toEqual([8, 0]); // only what was asked for
      const wide = planLoraStep(rows, cfg.nLayers, null, () => {}, ctx)!;
      expect(wide).not.toBeNull();
      for (let l = 0; l < cfg.nLayers; l++) expect([wide.has[l * lora.TARGETS.length + q], wide.has[l * lora.TARGETS.length + v]], `layer ${l}`).toEqual([8, 8]);
    } finally {
      slots.release(a);
    }
  });
});
