// PEFT files → adapter: an adopting parse (the serving cache's) gives what a copying one gives,
// without a copy per matrix, and never reads outside the bytes it was handed.
import { describe, expect, it } from "vitest";
import { createLora } from "./lora.ts";
import { parseAdapter, serializeAdapter } from "./peft.ts";
import { tinyConfig } from "./test-helpers.ts";

const cfg = tinyConfig();
const lora = createLora(cfg, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj", "down_proj"] }, { id: "p", seed: 7, randomB: true });
const { config, weights } = serializeAdapter(lora);

// every matrix of the adapter with where its values live
const matrices = (a: typeof lora) => a.layers.flatMap((l) => Object.values(l).flatMap((p) => [p.A, p.B]));

describe("parseAdapter", () => {
  it("adopt: the same adapter as a copying parse, its matrices views of the weights buffer handed over", () => {
    const copied = parseAdapter("p", config, weights, cfg);
    const own = new Uint8Array(weights); // a buffer of its own, as a read gives
    const adopted = parseAdapter("p", config, own, cfg, { adopt: true });
    expect(adopted).toEqual(copied);
    expect(adopted).toEqual({ ...lora, baseModel: adopted.baseModel });
    for (const m of matrices(adopted)) expect(m.buffer).toBe(own.buffer);
    for (const m of matrices(copied)) expect(m.buffer).not.toBe(weights.buffer); // the default still copies
  });

  it("adopt: bytes at an offset that is not 4-byte aligned parse into one aligned copy, not views of other bytes", () => {
    const host = new Uint8Array(weights.length + 3);
    host.fill(0xff);
    host.set(weights, 1); // the file starts one byte into its buffer
    const adopted = parseAdapter("p", config, host.subarray(1, 1 + weights.length), cfg, { adopt: true });
    expect(adopted).toEqual(parseAdapter("p", config, weights, cfg));
    const buffers = new Set(matrices(adopted).map((m) => m.buffer));
    expect(buffers.size).toBe(1);
    expect(buffers.has(host.buffer)).toBe(false);
  });
});
