// The training loop: learning, accumulation, schedule, early stopping, and resume after a kill.
import { describe, expect, it, onTestFinished } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { train, TrainError, type TrainEvent } from "./train.ts";
import { lrAt } from "./optim.ts";
import { packRecords } from "./packing.ts";
import { createLora } from "./lora.ts";
import { serializeAdapter } from "./peft.ts";
import { resumeFixture, tinyModel } from "./test-helpers.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

describe("packing", () => {
  it("joins records with EOS and shifts targets by one; pads the tail with ignored targets", () => {
    const seqs = packRecords([[1, 2], [3], [4, 5, 6]], 4, 9);
    expect(seqs.map((s) => Array.from(s.tokens))).toEqual([[1, 2, 9, 3], [9, 4, 5, 6]]);
    expect(seqs.map((s) => Array.from(s.targets))).toEqual([[2, 9, 3, 9], [4, 5, 6, 9]]);
    expect(() => packRecords([[1]], 1, null)).toThrow(RangeError);
  });
});

describe("lr schedule", () => {
  it("warms up linearly, peaks, and decays by cosine to the floor", () => {
    expect(lrAt(0, 100, 1, 10, 0.1)).toBeCloseTo(0.1);
    expect(lrAt(9, 100, 1, 10, 0.1)).toBeCloseTo(1);
    expect(lrAt(55, 100, 1, 10, 0.1)).toBeCloseTo(0.55);
    expect(lrAt(100, 100, 1, 10, 0.1)).toBeCloseTo(0.1);
  });
});

describe("train", () => {
  it("fits a repeated pattern with LoRA and beats the base model on held-out data", () => {
    const m = tinyModel(31);
    const a = createLora(m.config, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj", "up_proj", "down_proj"] }, { seed: 1 });
    const rec = [1, 2, 3, 4, 5, 6, 7, 8];
    const seqs = packRecords(Array.from({ length: 12 }, () => rec), 16, 0);
    const events: TrainEvent[] = [];
    const r = train(m, a, { train: seqs.slice(0, 5), eval: seqs.slice(5) }, { steps: 60, batchSize: 2, lr: 2e-2, warmupSteps: 5, evalEvery: 20 }, (e) => events.push(e));
    expect(r.evalLoss!).toBeLessThan(0.5 * r.baseEvalLoss!);
    expect(r.history.at(-1)!.loss).toBeLessThan(r.history[0]!.loss);
    const step = events.find((e) => e.type === "step")!;
    expect(step).toMatchObject({ step: 1, totalSteps: 60 });
    expect(step.type === "step" && step.tokensPerSec > 0 && step.etaSec >= 0).toBe(true);
    expect(events.filter((e) => e.type === "eval")).toHaveLength(3);
    expect(events.at(-1)!.type).toBe("done");
  });

  it("gradient accumulation of 2×1 equals one batch of 2", () => {
    const runs = [{ batchSize: 2, gradAccum: 1 }, { batchSize: 1, gradAccum: 2 }].map((b) => {
      const { model, adapter, data } = resumeFixture();
      train(model, adapter, data, { steps: 3, lr: 1e-2, seed: 2, evalEvery: 0, ...b });
      return Array.from(adapter.layers[0]!.q_proj!.A);
    });
    runs[0]!.forEach((v, i) => expect(v).toBeCloseTo(runs[1]![i]!, 6));
  });

  it("stops early when held-out loss stops improving and keeps the best weights", () => {
    const { model, adapter, data } = resumeFixture();
    const r = train(model, adapter, { train: data.train, eval: data.train.slice(0, 1).map((s) => ({ tokens: s.tokens, targets: s.targets.map((t) => (t + 5) % 18) as Int32Array })) }, { steps: 200, lr: 5e-2, evalEvery: 2, earlyStopPatience: 2 });
    expect(r.stoppedEarly).toBe(true);
    expect(r.steps).toBeLessThan(200);
    expect(r.evalLoss).toBe(Math.min(...r.evals.map((e) => e.loss)));
  });

  it("rejects bad configs", () => {
    const { model, adapter, data } = resumeFixture();
    expect(() => train(model, null, data, {})).toThrow(TrainError);
    expect(() => train(model, adapter, { train: [], eval: [] }, {})).toThrow(/empty/);
    expect(() => train(model, adapter, data, { steps: 0 })).toThrow(/steps/);
    expect(() => train(model, adapter, data, { lr: -1 })).toThrow(/lr/);
  });

  it("a run killed mid-way and resumed ends with the same weights as an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "engine-resume-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "final.safetensors"), child = join(here, "train-resume.fixture.ts");
    const run = (env: Record<string, string>, killOn: string | null) =>
      new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, [child, join(dir, "ckpt"), out], { env: { ...process.env, ...env } });
        let log = "";
        p.stdout.on("data", (d: Buffer) => { log += d; if (killOn && log.includes(killOn)) p.kill("SIGKILL"); });
        p.stderr.on("data", (d: Buffer) => (log += d));
        p.on("error", reject);
        p.on("exit", (code, signal) => (killOn ? (signal === "SIGKILL" ? resolve(log) : reject(new Error(`expected a kill, got ${code}: ${log}`))) : code === 0 ? resolve(log) : reject(new Error(log))));
      });
    const first = await run({ HANG_AT_STEP: "13" }, "hanging 13"); // killed after the step-10 checkpoint, 3 steps later
    expect(first).toContain("checkpoint 10");
    const second = await run({}, null);
    expect(second).toContain("resumed 10");
    const { model, adapter, data, cfg } = resumeFixture();
    train(model, adapter, data, cfg);
    expect(Buffer.compare(readFileSync(out), Buffer.from(serializeAdapter(adapter).weights))).toBe(0);
  });
});
