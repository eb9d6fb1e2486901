// The PyTorch backend against the embedded engine, on Debian's python3-torch (CPU): the same rows,
// seed and base model give the same loss curve and an adapter with the same greedy outputs; its
// checkpoints resume (on the engine, even); a crashed or misbehaving child is a clear failure.
// Skipped, saying so, where no python3 with torch is installed.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DiskBlobStore } from "../../adapters/local/disk-blob-store.ts";
import { systemClock } from "../../core/ports/clock.ts";
import { BASE_MODEL_DIR, createLora, generate, loadHfModel, parseAdapter, train, type LoraAdapter, type TrainResult } from "../engine/index.ts";
import { readBlob } from "./blob-files.ts";
import { JobRejectedError } from "./errors.ts";
import { formatRecordPieces, tokenizePieces } from "./records.ts";
import { runTrainer } from "./run-trainer.ts";
import { putJob, recordingQueue } from "./test-fixtures.ts";
import { resolveBackend, runTorchProcess, TorchBackendCrashedError, torchRunConfig, trainWithTorch } from "./torch-backend.ts";
import type { TrainWorkerInput, TrainWorkerMessage } from "./train-worker.ts";
import { packTrainingData } from "./training-data.ts";

// Debian's python3-torch lives in /usr/bin/python3, which a pyenv "python3" on PATH may hide.
const python = ["/usr/bin/python3", "python3"].find((p) => spawnSync(p, ["-c", "import torch"]).status === 0);
if (!python) console.warn("torch-backend.test.ts: skipped, no python3 with torch (apt-get install python3-torch; .ci/run does)");

/** Largest per-step difference of the two loss curves we accept: fp32 sums in another order, nothing more. */
const LOSS_TOLERANCE = 1e-3;

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), "mf-torch-test-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);

/** Instruction records (completion-only loss), packed several to a row, with LoRA dropout on: every part of the recipe is used. */
function runInput(overrides: Partial<TrainWorkerInput["config"]> = {}): TrainWorkerInput {
  const colours = ["red", "blue", "green", "gold"];
  const records = Array.from({ length: 24 }, (_, i) => ({ instruction: `What colour is zorp ${i}?`, output: `Zorp ${i} is ${colours[i % 4]}, blip.` }));
  const tokenized = records.map((r) => tokenizePieces((t) => tokenizer.encode(t), formatRecordPieces("instruction", r)!, "completion"));
  return {
    modelDir: BASE_MODEL_DIR, seqLen: 64, train: tokenized.slice(0, 20), heldOut: tokenized.slice(20),
    lora: { r: 4, alpha: 8, dropout: 0.1, targets: ["q_proj", "v_proj", "gate_proj", "down_proj"] }, adapterId: "eq", baseModelName: "mf-tiny", seed: 7,
    steps: 10, epochs: 1, stop: new SharedArrayBuffer(4),
    config: { batchSize: 2, gradAccum: 2, lr: 8e-3, warmupSteps: 3, weightDecay: 0.01, clipNorm: 1, evalEvery: 4, evalSequences: 0, earlyStopPatience: 0, checkpointEvery: 0, checkpointDir: null, ...overrides },
  };
}

/** The engine's own run of the same input (what train-worker.ts does, on this thread). */
function engineRun(input: TrainWorkerInput): { result: TrainResult; adapter: LoraAdapter } {
  const { steps, ...data } = packTrainingData(input, { bos: tokenizer.bos, eos: tokenizer.eos }, model.config.maxSeqLen);
  const adapter = createLora(model.config, input.lora, { id: input.adapterId, seed: input.seed, baseModel: input.baseModelName });
  return { result: train(model, adapter, data, { ...input.config, steps, seed: input.seed }), adapter };
}

const greedy = (adapter: LoraAdapter) =>
  ["What colour is zorp 3?", "What colour is zorp 22?", "The sky"].map((p) => generate(model, tokenizer, `### Instruction:\n${p}\n### Response:\n`, { temperature: 0, maxTokens: 12 }, adapter).tokens);

describe.skipIf(!python)("torch backend (python3-torch on the CPU)", () => {
  const torchOpts = { python: python!, threads: 1, device: "cpu" as const };
  let engine: ReturnType<typeof engineRun>;

  it("gives the engine's loss curve within the tolerance, and an adapter with the same greedy outputs", async () => {
    // Prepare
    const input = runInput();
    engine = engineRun(input);
    const messages: TrainWorkerMessage[] = [];
    // Act: two rows per forward, padded into one batch, as on a GPU (the CPU default is one row per forward, which the runTrainer test below takes)
    const end = await trainWithTorch(input, (m) => messages.push(m), { ...torchOpts, rowsPerForward: 2 });
    // Assess
    if (end.kind !== "done") throw new Error(`torch run ended ${end.kind}`);
    const curve = (r: TrainResult) => r.history.map((p) => p.loss);
    expect(curve(end.result)).toHaveLength(10);
    const worst = Math.max(...curve(end.result).map((l, i) => Math.abs(l - curve(engine.result)[i]!)));
    expect(worst).toBeLessThan(LOSS_TOLERANCE);
    expect(Math.abs(end.result.evalLoss! - engine.result.evalLoss!)).toBeLessThan(LOSS_TOLERANCE);
    expect(Math.abs(end.result.baseEvalLoss! - engine.result.baseEvalLoss!)).toBeLessThan(1e-4);
    expect(end.result.evalLoss!).toBeLessThan(end.result.baseEvalLoss! - 0.5); // it learnt, so the comparison is not of two untrained adapters
    // progress as the engine reports it: one step event per step, evaluations every evalEvery
    expect(messages[0]).toMatchObject({ kind: "prepared", totalSteps: 10 });
    const events = messages.flatMap((m) => (m.kind === "event" ? [m.event] : []));
    expect(events.filter((e) => e.type === "step").map((e) => e.step)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(events.filter((e) => e.type === "eval").map((e) => e.step)).toEqual([4, 8, 10]); // every evalEvery, and the final one
    // the PEFT files load in the engine and generate what the engine's own adapter generates
    const adapter = parseAdapter("eq", end.adapterConfig, end.adapterWeights, model.config);
    expect(JSON.parse(end.adapterConfig)).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj", "gate_proj", "down_proj"], base_model_name_or_path: "mf-tiny" });
    expect(greedy(adapter)).toEqual(greedy(engine.adapter));
  }, 60_000);

  it("checkpoints in the engine's format: a run stopped after its checkpoint resumes on the engine, or on torch, and ends as the uninterrupted run", async () => {
    // Prepare
    const dir = scratch();
    const input = runInput({ checkpointEvery: 3, checkpointDir: dir });
    const stop = new AbortController();
    const checkpoints: number[] = [];
    // Act: torch trains to its first checkpoint and stops; the engine picks the run up from that file
    const first = await trainWithTorch(input, (m) => {
      if (m.kind === "checkpoint") {
        checkpoints.push(m.step);
        stop.abort();
      }
    }, { ...torchOpts, signal: stop.signal });
    const copy = scratch();
    cpSync(join(dir, "checkpoint.safetensors"), join(copy, "checkpoint.safetensors"));
    const resumed = engineRun(input);
    // ... and so does torch itself, from a copy of the same file (what a Spot reclaim on the GPU queue does)
    const torchEvents: TrainWorkerMessage[] = [];
    const again = await trainWithTorch({ ...input, config: { ...input.config, checkpointDir: copy } }, (m) => torchEvents.push(m), torchOpts);
    // Assess
    // the stop line reaches the child while it may already be in step 4: it stops after that step, the checkpoint stays at 3
    expect(first.kind).toBe("stopped");
    expect(first.kind === "stopped" && first.step >= 3 && first.step < 6).toBe(true);
    expect(checkpoints).toEqual([3]);
    expect(resumed.result.history[0]!.step).toBe(4);
    const want = engine.result.history.slice(3).map((p) => p.loss);
    resumed.result.history.forEach((p, i) => expect(Math.abs(p.loss - want[i]!)).toBeLessThan(LOSS_TOLERANCE));
    if (again.kind !== "done") throw new Error(`torch resume ended ${again.kind}`);
    expect(torchEvents).toContainEqual({ kind: "event", event: { type: "resumed", step: 3 } });
    expect(again.result.history.map((p) => p.step)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    again.result.history.forEach((p, i) => expect(Math.abs(p.loss - want[i]!)).toBeLessThan(LOSS_TOLERANCE));
  }, 90_000);

  it("trains a whole job through runTrainer: progress events, the adapter and metrics as with the engine", async () => {
    // Prepare
    const root = scratch();
    const blobs = new DiskBlobStore({ root: join(root, "blobs"), apiOrigin: "http://localhost", secret: "s" });
    const queue = recordingQueue();
    const { specKey } = await putJob(blobs, { training: { maxSteps: 6, checkpointEvery: 3 } });
    // Act
    const outcome = await runTrainer({ blobs, queue, clock: systemClock }, specKey, { workDir: join(root, "work"), maxSeqLen: 48, progressIntervalMs: 0, backend: "torch", torch: torchOpts });
    // Assess
    expect(outcome.status, JSON.stringify(outcome)).toBe("succeeded");
    const types = queue.events().map((e) => e.type);
    expect(types[0]).toBe("started");
    expect(types.filter((t) => t === "progress").length).toBeGreaterThanOrEqual(6);
    expect(types.slice(-2)).toEqual(["evaluating", "succeeded"]);
    const metrics = JSON.parse((await readBlob(blobs, "jobs/job_1/metrics.json"))!.toString("utf8"));
    expect(metrics.lossCurve).toHaveLength(6);
    expect(metrics.metrics.evalLoss).toBeLessThan(metrics.metrics.baseEvalLoss);
    const weights = await readBlob(blobs, "jobs/job_1/adapter/adapter_model.safetensors");
    const config = await readBlob(blobs, "jobs/job_1/adapter/adapter_config.json");
    expect(() => parseAdapter("job_1", config!.toString("utf8"), new Uint8Array(weights!), model.config)).not.toThrow();
    expect(await readBlob(blobs, "jobs/job_1/checkpoints/checkpoint.safetensors")).not.toBeNull();
  }, 60_000);

  it("a bad config is an error event the driver turns into a job failure that no retry fixes", async () => {
    // Prepare
    const input = runInput();
    const config = torchRunConfig(input, { train: [{ tokens: Int32Array.of(1, 2), targets: Int32Array.of(2, 3) }], eval: [], steps: 1 }, scratch(), torchOpts);
    // Act
    const run = runTorchProcess({ ...config, modelDir: join(scratch(), "no-such-model") }, () => {}, torchOpts);
    // Assess
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobRejectedError);
    expect((err as JobRejectedError).retryable).toBe(false);
    expect((err as JobRejectedError).reason).toMatch(/torch ModelError: .*no readable config.json/);
  }, 30_000);
});

describe("torch backend driver", () => {
  const fakeChild = (body: string) => {
    const script = join(scratch(), "child.py");
    writeFileSync(script, `import sys, json\nsys.stdin.readline()\n${body}\n`);
    return { python: python ?? "python3", script };
  };
  const config = () => torchRunConfig(runInput(), { train: [], eval: [], steps: 1 }, scratch());

  it.skipIf(!python)("a child that dies mid-run fails the job as retryable, with its last stderr line in the reason", async () => {
    // Prepare
    const seen: string[] = [];
    const opts = fakeChild(`print(json.dumps({"type": "ready", "protocol": 1, "device": "cpu", "torch": "x", "threads": 1, "parameters": 1}), flush=True)\nsys.stderr.write("RuntimeError: CUDA error: an illegal memory access\\n")\nsys.exit(139)`);
    // Act
    const err = await runTorchProcess(config(), (e) => seen.push(e.type), opts).catch((e: unknown) => e);
    // Assess
    expect(seen).toEqual(["ready"]);
    expect(err).toBeInstanceOf(TorchBackendCrashedError);
    expect((err as TorchBackendCrashedError).retryable).toBe(true);
    expect((err as TorchBackendCrashedError).reason).toBe("torch backend exited with code 139 before finishing; last stderr line: RuntimeError: CUDA error: an illegal memory access");
  });

  it.skipIf(!python)("a line that is not a protocol event stops the child and fails the run", async () => {
    // Prepare
    const opts = fakeChild(`print("hello from a stray print", flush=True)\nimport time\ntime.sleep(30)`);
    // Act
    const t0 = Date.now();
    const err = await runTorchProcess(config(), () => {}, opts).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(TorchBackendCrashedError);
    expect((err as Error).message).toMatch(/not a protocol event: hello from a stray print/);
    expect(Date.now() - t0).toBeLessThan(20_000); // killed, not waited for
  });

  it("an interpreter that cannot start is a clear failure", async () => {
    const err = await runTorchProcess(config(), () => {}, { python: join(scratch(), "no-python") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TorchBackendCrashedError);
    expect((err as Error).message).toMatch(/could not start the torch backend/);
  });

  it("TRAINER_BACKEND: auto takes torch only where torch sees a CUDA GPU; an explicit choice is kept", () => {
    expect(resolveBackend("auto", () => true).backend).toBe("torch");
    expect(resolveBackend("auto", () => false)).toEqual({ backend: "engine", reason: "auto: no CUDA GPU usable by torch" });
    expect(resolveBackend("torch", () => false).backend).toBe("torch");
    expect(resolveBackend("engine", () => true).backend).toBe("engine");
  });
});
