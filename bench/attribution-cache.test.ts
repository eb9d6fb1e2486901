import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AttributionCache, sourceFiles } from "./attribution-cache.ts";

const dir = mkdtempSync(join(tmpdir(), "attribution-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("AttributionCache", () => {
  it("keys on the code that trains and sketches, not on the scoring a bench run varies", () => {
    const files = sourceFiles();
    for (const f of ["containers/engine/train.ts", "containers/engine/train-graph.ts", "containers/engine/kernels/kernels.wasm", "containers/engine/base-model/model.safetensors", "containers/trainer/gradient-sketch.ts", "core/attribution/projection.ts", "core/jobs/recipe.ts", "core/jobs/model.ts"]) expect(files).toContain(f);
    // Scoring and serving code change without a fine-tune changing, so they are not in the key.
    for (const f of ["core/attribution/attribute-call.ts", "core/attribution/gradient-attribution.ts", "core/attribution/span-attribution.ts", "containers/engine/scheduler.ts", "containers/engine/adapter-cache.ts"]) expect(files).not.toContain(f);
    expect(files.some((f) => f.includes(".test."))).toBe(false);
  });

  it("gives the same key for the same determinants and another for any change", () => {
    const a = new AttributionCache({ seed: 4, epochs: 100 }, dir), b = new AttributionCache({ seed: 4, epochs: 100 }, dir);
    expect(a.key).toBe(b.key);
    expect(new AttributionCache({ seed: 5, epochs: 100 }, dir).key).not.toBe(a.key);
    expect(new AttributionCache({ seed: 4, epochs: 60 }, dir).key).not.toBe(a.key);
  });

  it("finds an entry only once it is whole, and adds files to it", () => {
    const c = new AttributionCache({ test: "store" }, dir);
    expect(c.lookup()).toBeNull();
    // A half-written entry (no meta.json, as when a run is killed mid-write) is not a hit.
    mkdirSync(join(dir, c.key), { recursive: true });
    writeFileSync(join(dir, c.key, "adapter_model.safetensors"), "partial");
    expect(c.lookup()).toBeNull();
    c.addFile("x.bin", new Uint8Array([1])); // no entry yet: nothing is written
    expect(c.file("x.bin")).toBeNull();
    const meta = { steps: 12, seconds: 3.5, loss: 0.25, tokens: 99, commit: "abc1234", trainedAt: "2026-12-01T23:00:00.000Z", loadAverage: [1, 2, 3] };
    const at = c.store((d) => writeFileSync(join(d, "adapter_model.safetensors"), "whole"), meta);
    expect(at).toBe(join(dir, c.key));
    expect(c.lookup()).toBe(at);
    expect(c.meta()).toEqual(meta);
    expect(readFileSync(join(at!, "adapter_model.safetensors"), "utf8")).toBe("whole");
    c.addFile("sketches.bin", new Uint8Array([7, 8, 9]));
    expect([...c.file("sketches.bin")!]).toEqual([7, 8, 9]);
    expect(c.file("missing.bin")).toBeNull();
  });

  it("keeps nothing when off", () => {
    const off = new AttributionCache({ test: "off" }, "off");
    expect(off.dir).toBeNull();
    expect(off.store(() => { throw new Error("not called"); }, { steps: 0, seconds: 0, loss: 0, tokens: 0, commit: "", trainedAt: "", loadAverage: [] })).toBeNull();
    expect(off.lookup()).toBeNull();
  });
});
