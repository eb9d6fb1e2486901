// The training loop: packed sequences, gradient accumulation, AdamW with warmup + cosine,
// clipping, held-out evaluation against the base model, early stopping, and checkpoints that
// resume bit-for-bit after a kill (all randomness is derived from (seed, step), and the
// checkpoint holds the parameters, both Adam moments and the loop's counters).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AdamW, clipGradNorm, lrAt } from "./optim.ts";
import { backward, createGrads, forwardTrain, paramList } from "./train-graph.ts";
import { withStepArena } from "./kernels/index.ts";
import type { LoraAdapter } from "./lora.ts";
import type { Model } from "./model.ts";
import type { Sequence } from "./packing.ts";
import { Rng } from "./rng.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";

export interface TrainConfig {
  steps: number; // optimizer steps
  batchSize: number; // sequences per micro-batch
  gradAccum: number; // micro-batches per optimizer step
  lr: number; // peak learning rate
  warmupSteps: number; // linear warmup
  minLrRatio: number; // cosine floor as a fraction of lr
  weightDecay: number; // AdamW decoupled decay (matrices only)
  beta1: number;
  beta2: number;
  eps: number;
  clipNorm: number; // global gradient norm limit (0 = off)
  evalEvery: number; // steps between held-out evaluations (0 = only at the end)
  evalSequences: number; // held-out sequences per evaluation (0 = all)
  earlyStopPatience: number; // evaluations without improvement before stopping (0 = never)
  checkpointEvery: number; // steps between checkpoints (0 = none)
  checkpointDir: string | null; // where checkpoint.safetensors lives; resumed from when present
  seed: number;
  trainBase: boolean; // pretraining: update base weights instead of an adapter
}

/** Defaults suited to LoRA fine-tuning a small model. */
export const DEFAULT_TRAIN: TrainConfig = {
  steps: 100, batchSize: 4, gradAccum: 1, lr: 2e-3, warmupSteps: 10, minLrRatio: 0.1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8,
  clipNorm: 1, evalEvery: 25, evalSequences: 32, earlyStopPatience: 0, checkpointEvery: 0, checkpointDir: null, seed: 1, trainBase: false,
};

export type TrainEvent =
  | { type: "step"; step: number; totalSteps: number; loss: number; lr: number; gradNorm: number; tokensPerSec: number; etaSec: number; elapsedSec: number }
  | { type: "eval"; step: number; loss: number; perplexity: number; baseLoss: number | null; basePerplexity: number | null }
  | { type: "checkpoint"; step: number; path: string }
  | { type: "resumed"; step: number }
  | { type: "early-stop"; step: number; bestLoss: number }
  | { type: "done"; step: number; trainLoss: number; evalLoss: number | null };

export interface TrainResult {
  steps: number; // steps completed
  trainLoss: number; // mean loss of the last step
  evalLoss: number | null; // final held-out loss (of the best weights when early-stopped)
  baseEvalLoss: number | null; // the base model's held-out loss (adapter training only)
  stoppedEarly: boolean;
  history: Array<{ step: number; loss: number }>;
  evals: Array<{ step: number; loss: number }>;
}

/** Raised for an unusable training config or dataset. */
export class TrainError extends Error {
  override name = "TrainError";
}

/** Mean held-out loss of model (+ adapter) over sequences, no dropout. */
export function evaluate(m: Model, adapter: LoraAdapter | null, seqs: Sequence[]): number {
  let sum = 0, count = 0;
  for (const s of seqs) {
    const r = withStepArena((arena) => forwardTrain(m, adapter, s.tokens, s.targets, null, Float32Array, s.starts ?? null, arena));
    sum += r.loss * r.count; // (numbers only: the tape's arrays are gone with the arena)
    count += r.count;
  }
  return count ? sum / count : NaN;
}

/**
 * Train `adapter` (or, with cfg.trainBase, the base weights) on packed sequences.
 * Synchronous; onProgress gets step/eval/checkpoint events. Example:
 *   train(model, createLora(model.config, {...}), { train, eval }, { ...DEFAULT_TRAIN, steps: 200 }, console.log)
 */
export function train(m: Model, adapter: LoraAdapter | null, data: { train: Sequence[]; eval: Sequence[] }, cfgIn: Partial<TrainConfig>, onProgress: (e: TrainEvent) => void = () => {}): TrainResult {
  const cfg: TrainConfig = { ...DEFAULT_TRAIN, ...cfgIn };
  if (!adapter && !cfg.trainBase) throw new TrainError("nothing to train: pass an adapter or set trainBase");
  if (data.train.length === 0) throw new TrainError("the training set is empty");
  for (const k of ["steps", "batchSize", "gradAccum"] as const) if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new TrainError(`${k} must be a positive integer, got ${cfg[k]}`);
  if (!(cfg.lr > 0)) throw new TrainError(`lr must be > 0, got ${cfg.lr}`);
  for (const s of data.train) if (s.tokens.length > m.config.maxSeqLen) throw new TrainError(`sequence of ${s.tokens.length} exceeds the model's context ${m.config.maxSeqLen}`);

  const grads = createGrads(m, cfg.trainBase ? null : adapter, cfg.trainBase);
  const params = paramList(m, cfg.trainBase ? null : adapter, grads);
  const opt = new AdamW(params.map((p) => p.param.length), cfg);
  const decay = params.map((p) => !/norm/.test(p.name));
  const trained = cfg.trainBase ? null : adapter;
  const evalSet = cfg.evalSequences > 0 ? data.eval.slice(0, cfg.evalSequences) : data.eval;
  const perStep = cfg.batchSize * cfg.gradAccum;

  let step = 0, bestLoss = Infinity, badEvals = 0, best: Float32Array[] | null = null;
  const history: TrainResult["history"] = [], evals: TrainResult["evals"] = [];
  const ckptPath = cfg.checkpointDir ? join(cfg.checkpointDir, "checkpoint.safetensors") : null;
  if (ckptPath && existsSync(ckptPath)) {
    const st = loadCheckpoint(ckptPath, params, opt);
    ({ step, bestLoss, badEvals } = st);
    onProgress({ type: "resumed", step });
  }
  const baseEvalLoss = !cfg.trainBase && evalSet.length ? evaluate(m, null, evalSet) : null;

  // the sequences of step s: a seeded shuffle per epoch, indexed by the global sample number
  let orderEpoch = -1, order: number[] = [];
  const sequenceAt = (k: number): Sequence => {
    const epoch = Math.floor(k / data.train.length);
    if (epoch !== orderEpoch) {
      const rng = new Rng(cfg.seed * 7919 + epoch);
      order = data.train.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(rng.next() * (i + 1)); [order[i], order[j]] = [order[j]!, order[i]!]; }
      orderEpoch = epoch;
    }
    return data.train[order[k % data.train.length]!]!;
  };

  const runEval = (): number => {
    const loss = evaluate(m, trained, evalSet);
    evals.push({ step, loss });
    onProgress({ type: "eval", step, loss, perplexity: Math.exp(loss), baseLoss: baseEvalLoss, basePerplexity: baseEvalLoss === null ? null : Math.exp(baseEvalLoss) });
    return loss;
  };

  const t0 = performance.now(), startStep = step;
  let tokens = 0, lastLoss = NaN, stoppedEarly = false;
  while (step < cfg.steps) {
    for (const p of params) p.grad.fill(0);
    let lossSum = 0;
    for (let k = 0; k < perStep; k++) {
      const seq = sequenceAt(step * perStep + k);
      const dropRng = new Rng((cfg.seed * 1_000_003 + step * 131 + k) >>> 0); // dropout masks depend only on (seed, step, k)
      // the sequence's activations live in the kernel heap from its forward to the end of its backward
      lossSum += withStepArena((arena) => {
        const { loss, tape } = forwardTrain(m, trained, seq.tokens, seq.targets, dropRng, Float32Array, seq.starts ?? null, arena);
        backward(m, trained, tape, seq.targets, grads, 1 / perStep);
        return loss;
      });
      tokens += seq.tokens.length;
    }
    const gradNorm = clipGradNorm(params.map((p) => p.grad), cfg.clipNorm);
    const lr = lrAt(step, cfg.steps, cfg.lr, cfg.warmupSteps, cfg.minLrRatio);
    opt.step(params.map((p) => p.param), params.map((p) => p.grad), lr, decay);
    step++;
    lastLoss = lossSum / perStep;
    history.push({ step, loss: lastLoss });
    const elapsed = (performance.now() - t0) / 1000;
    const rate = (step - startStep) / Math.max(elapsed, 1e-9);
    onProgress({ type: "step", step, totalSteps: cfg.steps, loss: lastLoss, lr, gradNorm, tokensPerSec: tokens / Math.max(elapsed, 1e-9), etaSec: (cfg.steps - step) / rate, elapsedSec: elapsed });

    if (cfg.evalEvery > 0 && step % cfg.evalEvery === 0 && evalSet.length && step < cfg.steps) {
      const loss = runEval();
      if (loss < bestLoss) {
        bestLoss = loss;
        badEvals = 0;
        if (cfg.earlyStopPatience > 0) best = params.map((p) => Float32Array.from(p.param));
      } else if (cfg.earlyStopPatience > 0 && ++badEvals >= cfg.earlyStopPatience) {
        if (best) params.forEach((p, i) => p.param.set(best![i]!));
        onProgress({ type: "early-stop", step, bestLoss });
        stoppedEarly = true;
        break;
      }
    }
    if (ckptPath && cfg.checkpointEvery > 0 && step % cfg.checkpointEvery === 0) {
      saveCheckpoint(ckptPath, params, opt, { step, bestLoss, badEvals });
      onProgress({ type: "checkpoint", step, path: ckptPath });
    }
  }
  const evalLoss = evalSet.length ? (stoppedEarly ? bestLoss : runEval()) : null;
  onProgress({ type: "done", step, trainLoss: lastLoss, evalLoss });
  return { steps: step, trainLoss: lastLoss, evalLoss, baseEvalLoss, stoppedEarly, history, evals };
}

interface LoopState { step: number; bestLoss: number; badEvals: number }

/** Write params + Adam moments + counters atomically (tmp file, then rename). */
function saveCheckpoint(path: string, params: ReturnType<typeof paramList>, opt: AdamW, st: LoopState): void {
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  params.forEach((p, i) => {
    t.set(`param.${p.name}`, { shape: [p.param.length], data: p.param as Float32Array });
    t.set(`adam_m.${p.name}`, { shape: [p.param.length], data: opt.m[i]! });
    t.set(`adam_v.${p.name}`, { shape: [p.param.length], data: opt.v[i]! });
  });
  const meta = { step: String(st.step), best_loss: String(st.bestLoss), bad_evals: String(st.badEvals), adam_t: String(opt.t) };
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path + ".tmp", writeSafetensors(t, meta));
  renameSync(path + ".tmp", path);
}

function loadCheckpoint(path: string, params: ReturnType<typeof paramList>, opt: AdamW): LoopState {
  const { tensors, metadata } = readSafetensors(readFileSync(path));
  params.forEach((p, i) => {
    const get = (k: string) => {
      const ten = tensors.get(k);
      if (!ten || ten.data.length !== p.param.length) throw new TrainError(`checkpoint ${path} does not match this run (${k})`);
      return ten.data;
    };
    p.param.set(get(`param.${p.name}`));
    opt.m[i]!.set(get(`adam_m.${p.name}`));
    opt.v[i]!.set(get(`adam_v.${p.name}`));
  });
  opt.t = Number(metadata.adam_t);
  return { step: Number(metadata.step), bestLoss: Number(metadata.best_loss), badEvals: Number(metadata.bad_evals) };
}
