// The trainer's PyTorch backend, driven from TypeScript: `containers/trainer/torch/train.py` as a
// child process speaking JSON lines (one config line in on stdin, one event per line out on
// stdout; README.md "PyTorch backend" documents the protocol). Its events become the same
// TrainWorkerMessages the engine's worker posts, so run-trainer.ts reports progress, mirrors
// checkpoints and writes outputs the same way whichever backend trained.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { fromHfConfig } from "../engine/checkpoint.ts";
import { DEFAULT_TRAIN, loadTokenizer, parseAdapter, type Sequence, type TrainResult } from "../engine/index.ts";
import { JobRejectedError, TrainerError, UnexpectedTrainerError } from "./errors.ts";
import type { TrainWorkerInput, TrainWorkerMessage } from "./train-worker.ts";
import { packTrainingData } from "./training-data.ts";

/** The Python entry point of the backend. */
export const TORCH_SCRIPT = fileURLToPath(new URL("./torch/train.py", import.meta.url));
/** Version of the JSON-lines protocol; train.py refuses a config of another. */
export const TORCH_PROTOCOL = 1;

export const TrainerBackendChoice = z.enum(["engine", "torch", "auto"]);
export type TrainerBackendChoice = z.infer<typeof TrainerBackendChoice>;
export type TrainerBackend = Exclude<TrainerBackendChoice, "auto">;

export interface TorchBackendOptions {
  /** The Python interpreter with torch (default `python3`; Debian's is /usr/bin/python3). */
  python?: string;
  /** The backend's entry script (default torch/train.py; tests point it elsewhere). */
  script?: string;
  /** `auto` (CUDA when torch sees a GPU), `cpu` or `cuda`. */
  device?: "auto" | "cpu" | "cuda";
  /** torch.set_num_threads on the CPU (default: torch's own choice). */
  threads?: number;
  /** Rows per forward pass, padded into one batch (default: batchSize on CUDA, 1 on the CPU); the result does not depend on it. */
  rowsPerForward?: number;
  /** Stops training after the current step (after its checkpoint on a checkpoint step). */
  signal?: AbortSignal;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** The child died, or broke the protocol, before saying how its run ended. A retry may help. */
export class TorchBackendCrashedError extends TrainerError {
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The end of the child's stderr (its Python traceback, usually). */
  readonly stderrTail: string;

  constructor(message: string, exitCode: number | null, signal: string | null, stderrTail: string) {
    super(message, true);
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderrTail = stderrTail;
  }

  override get reason(): string {
    const last = this.stderrTail.trim().split("\n").at(-1);
    return last ? `${this.message}; last stderr line: ${last}` : this.message;
  }
}

const finite = z.number().nullable(); // train.py writes non-finite floats as null
const Point = z.object({ step: z.number().int(), loss: finite });
/** The events of train.py, one per stdout line. */
export const TorchEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("ready"), protocol: z.number(), device: z.string(), torch: z.string(), threads: z.number(), parameters: z.number(),
    deviceName: z.string().optional(), blas: z.array(z.string()).optional(), attention: z.enum(["fused", "math"]).optional(),
  }),
  z.object({ type: z.literal("resumed"), step: z.number().int() }),
  z.object({
    type: z.literal("progress"), step: z.number().int(), totalSteps: z.number().int(), loss: finite, lr: z.number(), gradNorm: finite,
    tokens: z.number().int(), tokensPerSec: z.number(), etaSec: finite, elapsedSec: z.number(),
  }),
  z.object({ type: z.literal("eval"), step: z.number().int(), loss: finite, perplexity: finite, baseLoss: finite, basePerplexity: finite }),
  z.object({ type: z.literal("checkpoint"), step: z.number().int(), path: z.string() }),
  z.object({ type: z.literal("early-stop"), step: z.number().int(), bestLoss: finite }),
  z.object({ type: z.literal("stopped"), step: z.number().int() }),
  z.object({
    type: z.literal("result"), steps: z.number().int(), trainLoss: finite, evalLoss: finite, baseEvalLoss: finite, stoppedEarly: z.boolean(),
    history: z.array(Point), evals: z.array(Point), adapterDir: z.string(), device: z.string(), tokens: z.number().int(), seconds: z.number(),
    peakMemoryBytes: z.number(),
  }),
  z.object({ type: z.literal("error"), name: z.string(), message: z.string(), retryable: z.boolean() }),
]);
export type TorchEvent = z.infer<typeof TorchEvent>;
export type TorchResult = Extract<TorchEvent, { type: "result" }>;

type WorkerEnd = Extract<TrainWorkerMessage, { kind: "done" | "stopped" }>;
const rows = (seqs: Sequence[]) => seqs.map((s) => ({ tokens: Array.from(s.tokens), targets: Array.from(s.targets), starts: s.starts ? Array.from(s.starts) : null }));

/** The protocol's config line for a run: the packed rows and every setting of the engine's recipe. */
export function torchRunConfig(input: TrainWorkerInput, packed: { train: Sequence[]; eval: Sequence[]; steps: number }, outputDir: string, opts: TorchBackendOptions = {}) {
  const t = { ...DEFAULT_TRAIN, ...input.config };
  return {
    protocol: TORCH_PROTOCOL,
    modelDir: input.modelDir,
    outputDir,
    checkpointDir: t.checkpointDir,
    device: opts.device ?? "auto",
    threads: opts.threads ?? null,
    rowsPerForward: opts.rowsPerForward ?? null,
    adapterId: input.adapterId,
    baseModelName: input.baseModelName,
    seed: input.seed,
    steps: packed.steps,
    lora: { r: input.lora.r, alpha: input.lora.alpha, dropout: input.lora.dropout, targets: input.lora.targets },
    training: {
      batchSize: t.batchSize, gradAccum: t.gradAccum, lr: t.lr, warmupSteps: t.warmupSteps, minLrRatio: t.minLrRatio, weightDecay: t.weightDecay,
      beta1: t.beta1, beta2: t.beta2, eps: t.eps, clipNorm: t.clipNorm, evalEvery: t.evalEvery, evalSequences: t.evalSequences,
      earlyStopPatience: t.earlyStopPatience, checkpointEvery: t.checkpointEvery,
    },
    train: rows(packed.train),
    eval: rows(packed.eval),
  };
}
export type TorchRunConfig = ReturnType<typeof torchRunConfig>;

/**
 * Trains with PyTorch in a child process: packs the rows as the engine's worker does, posts the
 * same messages (prepared, event, checkpoint), and resolves with `done` (the PEFT files the
 * child wrote, checked against the model) or `stopped`. A child that exits without a result,
 * or writes a line that is not a protocol event, rejects with TorchBackendCrashedError; an
 * `error` event rejects with its classification (not retryable: the job's fault).
 */
export async function trainWithTorch(input: TrainWorkerInput, post: (m: TrainWorkerMessage) => void, opts: TorchBackendOptions = {}): Promise<WorkerEnd> {
  const hf = JSON.parse(readFileSync(join(input.modelDir, "config.json"), "utf8")) as Record<string, unknown>;
  const modelConfig = fromHfConfig(hf);
  const tokenizer = loadTokenizer(input.modelDir, modelConfig.vocabSize);
  const packed = packTrainingData(input, { bos: tokenizer.bos, eos: tokenizer.eos }, modelConfig.maxSeqLen);
  post({ kind: "prepared", trainSequences: packed.train.length, heldOutSequences: packed.eval.length, totalSteps: packed.steps });
  const outputDir = await mkdtemp(join(tmpdir(), "mf-torch-adapter-"));
  try {
    const end = await runTorchProcess(torchRunConfig(input, packed, outputDir, opts), (e) => {
      if (e.type === "progress")
        post({ kind: "event", event: { type: "step", step: e.step, totalSteps: e.totalSteps, loss: e.loss ?? NaN, lr: e.lr, gradNorm: e.gradNorm ?? NaN, tokensPerSec: e.tokensPerSec, etaSec: e.etaSec ?? NaN, elapsedSec: e.elapsedSec } });
      else if (e.type === "eval") post({ kind: "event", event: { type: "eval", step: e.step, loss: e.loss ?? NaN, perplexity: e.perplexity ?? NaN, baseLoss: e.baseLoss, basePerplexity: e.basePerplexity } });
      else if (e.type === "resumed") post({ kind: "event", event: { type: "resumed", step: e.step } });
      else if (e.type === "early-stop") post({ kind: "event", event: { type: "early-stop", step: e.step, bestLoss: e.bestLoss ?? NaN } });
      else if (e.type === "checkpoint") {
        // Read now, while the file is this step's; label it with the step written inside it, in case a newer one replaced it already.
        const bytes = new Uint8Array(readFileSync(e.path));
        post({ kind: "checkpoint", step: checkpointStep(bytes) ?? e.step, bytes });
        post({ kind: "event", event: { type: "checkpoint", step: e.step, path: e.path } });
      } else if (e.type === "ready") opts.log?.("torch backend ready", { device: e.device, deviceName: e.deviceName, torch: e.torch, threads: e.threads, parameters: e.parameters, attention: e.attention });
    }, opts);
    if (end.type === "stopped") return { kind: "stopped", step: end.step };
    opts.log?.("torch backend finished", { device: end.device, steps: end.steps, tokens: end.tokens, seconds: end.seconds, peakMemoryBytes: end.peakMemoryBytes });
    const adapterConfig = await readFile(join(outputDir, "adapter_config.json"), "utf8");
    const adapterWeights = new Uint8Array(await readFile(join(outputDir, "adapter_model.safetensors")));
    parseAdapter(input.adapterId, adapterConfig, adapterWeights, modelConfig); // names, ranks and shapes as the engine and PEFT expect
    const nan = (x: number | null) => x ?? NaN;
    const result: TrainResult = {
      steps: end.steps, trainLoss: nan(end.trainLoss), evalLoss: end.evalLoss, baseEvalLoss: end.baseEvalLoss, stoppedEarly: end.stoppedEarly,
      history: end.history.map((p) => ({ step: p.step, loss: nan(p.loss) })), evals: end.evals.map((p) => ({ step: p.step, loss: nan(p.loss) })),
    };
    return { kind: "done", result, adapterConfig, adapterWeights };
  } finally {
    await rm(outputDir, { recursive: true, force: true });
  }
}

/** The `step` in a checkpoint's safetensors metadata, read from the header alone. */
function checkpointStep(bytes: Uint8Array): number | null {
  try {
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
    const meta = (JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as { __metadata__?: { step?: string } }).__metadata__;
    const step = Number(meta?.step);
    return Number.isInteger(step) ? step : null;
  } catch {
    return null;
  }
}

/**
 * Runs train.py on one config and hands each event to `onEvent`; resolves with the terminal
 * `result` or `stopped` event once the process has exited. Lower level than trainWithTorch:
 * the GPU benchmark drives it directly.
 */
export function runTorchProcess(config: TorchRunConfig, onEvent: (e: TorchEvent) => void, opts: TorchBackendOptions = {}): Promise<Extract<TorchEvent, { type: "result" | "stopped" }>> {
  const python = opts.python ?? "python3", script = opts.script ?? TORCH_SCRIPT;
  // PYTHONUNBUFFERED: the events are flushed by train.py anyway; this keeps stderr (tracebacks) timely too.
  const child = spawn(python, [script], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } });
  let stderrTail = "", terminal: TorchEvent | null = null, broken: string | null = null;
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-8192);
    for (const line of chunk.split("\n")) if (line.trim()) opts.log?.("torch backend stderr", { line: line.slice(0, 500) });
  });
  const stop = () => child.stdin.write(`${JSON.stringify({ type: "stop" })}\n`, () => {});
  if (opts.signal?.aborted) queueMicrotask(stop);
  opts.signal?.addEventListener("abort", stop);
  child.stdin.on("error", () => {}); // the child may exit before reading everything; its exit says what happened
  child.stdin.write(`${JSON.stringify(config)}\n`);

  createInterface({ input: child.stdout }).on("line", (line) => {
    if (broken || !line.trim()) return;
    let event: TorchEvent;
    try {
      event = TorchEvent.parse(JSON.parse(line));
    } catch (e) {
      broken = `torch backend wrote a line that is not a protocol event: ${line.slice(0, 200)}`;
      child.kill("SIGKILL");
      return;
    }
    if (event.type === "result" || event.type === "stopped" || event.type === "error") terminal = event;
    else {
      try {
        onEvent(event);
      } catch (e) {
        broken = `handling a torch backend ${event.type} event failed: ${String(e)}`;
        child.kill("SIGKILL");
      }
    }
  });

  return new Promise((resolve, reject) => {
    child.on("error", (e) => reject(new TorchBackendCrashedError(`could not start the torch backend (${python} ${script}): ${e.message}`, null, null, stderrTail)));
    child.on("close", (code, signal) => {
      opts.signal?.removeEventListener("abort", stop);
      const end = terminal as TorchEvent | null;
      if (broken) reject(new TorchBackendCrashedError(broken, code, signal, stderrTail));
      else if (end?.type === "error") reject(end.retryable ? new UnexpectedTrainerError(`torch ${end.name}`, end.message) : new JobRejectedError(`torch ${end.name}`, end.message));
      else if (end && code === 0 && (end.type === "result" || end.type === "stopped")) resolve(end);
      else reject(new TorchBackendCrashedError(`torch backend exited with ${signal ? `signal ${signal}` : `code ${code}`} before finishing`, code, signal, stderrTail));
    });
  });
}

/** Whether this machine has an NVIDIA GPU that `python`'s torch can use (cheap when there is no driver at all). */
export function torchSeesCuda(python = "python3"): boolean {
  if (!existsSync("/dev/nvidiactl") && !existsSync("/proc/driver/nvidia/version")) return false;
  const probe = spawnSync(python, ["-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"], { timeout: 120_000, stdio: "ignore" });
  return probe.status === 0;
}

/** TRAINER_BACKEND resolved: `auto` is torch where a CUDA GPU is usable, else the embedded engine. */
export function resolveBackend(choice: TrainerBackendChoice, hasCuda: () => boolean): { backend: TrainerBackend; reason: string } {
  if (choice !== "auto") return { backend: choice, reason: `TRAINER_BACKEND=${choice}` };
  return hasCuda() ? { backend: "torch", reason: "auto: torch sees a CUDA GPU" } : { backend: "engine", reason: "auto: no CUDA GPU usable by torch" };
}
