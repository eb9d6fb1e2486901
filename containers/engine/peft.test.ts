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

  it("adopt: a second file laid out like one parsed before gives what a full parse gives; one that differs in its config or is cut short is checked in full", () => {
    const other = createLora(cfg, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj", "down_proj"] }, { id: "q", seed: 8, randomB: true });
    const files = serializeAdapter(other);
    parseAdapter("p", config, new Uint8Array(weights), cfg, { adopt: true }); // the layout is known from here on
    const again = parseAdapter("q", files.config, new Uint8Array(files.weights), cfg, { adopt: true });
    expect(again).toEqual(parseAdapter("q", files.config, files.weights, cfg));
    expect(again.id).toBe("q");
    // the same header with another alpha: another scale, not the remembered one
    const alpha = parseAdapter("q", files.config.replace('"lora_alpha": 8', '"lora_alpha": 2'), new Uint8Array(files.weights), cfg, { adopt: true });
    expect(alpha.scale).toBe(2 / 4);
    expect(() => parseAdapter("q", files.config, new Uint8Array(files.weights.subarray(0, files.weights.length - 4)), cfg, { adopt: true })).toThrow(/out of range|exceeds/);
    // learnt for one model, not taken for another
    expect(() => parseAdapter("q", files.config, new Uint8Array(files.weights), { ...cfg, dim: cfg.dim * 2 }, { adopt: true })).toThrow(/model needs/);
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
