// A Llama-family decoder in fp32, read top to bottom like llama2.c's run.c:
// Config, Weights, KV cache, RunState, then forward. forward() runs one decode step for a
// whole batch of sequences: every base matmul is one pass over the weights for all rows, and
// each row then adds its own adapter's low-rank delta (BGMV, see lora.ts).
import { rmsnorm, rope, ropeTables } from "./ops.ts";
import { addLoraDelta, addLoraDeltaGroup, attendRow, heapFloats, matmul, planLoraStep, swiglu, type LoraOutput } from "./kernels/index.ts"; // WASM SIMD, or the ops.ts / lora.ts reference where it cannot run
import { checkLoraFits, type LoraAdapter, type Target } from "./lora.ts";

export interface Config {
  dim: number; // width of the residual stream
  hiddenDim: number; // inner width of the SwiGLU MLP
  nLayers: number; // decoder blocks
  nHeads: number; // query heads
  nKvHeads: number; // key/value heads (grouped-query attention: nHeads % nKvHeads == 0)
  vocabSize: number; // tokens
  maxSeqLen: number; // longest context the KV cache holds
  ropeTheta: number; // RoPE base (10000 in Llama 2)
  normEps: number; // RMSNorm epsilon
  tieEmbeddings: boolean; // lm_head shares embed_tokens
}

// Names are the Hugging Face checkpoint names (model.layers.{i}.<name>.weight).
export interface LayerWeights {
  input_layernorm: Float32Array; // (dim)
  q_proj: Float32Array; // (nHeads·headDim, dim)
  k_proj: Float32Array; // (nKvHeads·headDim, dim)
  v_proj: Float32Array; // (nKvHeads·headDim, dim)
  o_proj: Float32Array; // (dim, nHeads·headDim)
  post_attention_layernorm: Float32Array; // (dim)
  gate_proj: Float32Array; // (hiddenDim, dim)
  up_proj: Float32Array; // (hiddenDim, dim)
  down_proj: Float32Array; // (dim, hiddenDim)
}

export interface Weights {
  embed_tokens: Float32Array; // (vocab, dim)
  layers: LayerWeights[];
  norm: Float32Array; // (dim) final RMSNorm
  lm_head: Float32Array; // (vocab, dim); the same array as embed_tokens when tied
}

export interface Model {
  config: Config;
  weights: Weights;
  rope: { cos: Float64Array; sin: Float64Array }; // (maxSeqLen, headDim/2)
  name: string; // what adapters record as base_model_name_or_path
}

/** Raised for a config or checkpoint that cannot make a model. */
export class ModelError extends Error {
  override name = "ModelError";
}

/** Throw ModelError unless the config describes a buildable model. */
export function validateConfig(c: Config): void {
  for (const k of ["dim", "hiddenDim", "nLayers", "nHeads", "nKvHeads", "vocabSize", "maxSeqLen"] as const)
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new ModelError(`config.${k} must be a positive integer, got ${c[k]}`);
  if (c.dim % c.nHeads !== 0) throw new ModelError(`dim ${c.dim} is not divisible by nHeads ${c.nHeads}`);
  if ((c.dim / c.nHeads) % 2 !== 0) throw new ModelError(`head dim ${c.dim / c.nHeads} must be even for RoPE`);
  if (c.nHeads % c.nKvHeads !== 0) throw new ModelError(`nHeads ${c.nHeads} is not a multiple of nKvHeads ${c.nKvHeads}`);
}

/** Expected shape of every weight, by HF name, for checks when loading. */
export function weightShapes(c: Config): Record<keyof LayerWeights, number[]> {
  const hd = c.dim / c.nHeads;
  return {
    input_layernorm: [c.dim],
    q_proj: [c.nHeads * hd, c.dim],
    k_proj: [c.nKvHeads * hd, c.dim],
    v_proj: [c.nKvHeads * hd, c.dim],
    o_proj: [c.dim, c.nHeads * hd],
    post_attention_layernorm: [c.dim],
    gate_proj: [c.hiddenDim, c.dim],
    up_proj: [c.hiddenDim, c.dim],
    down_proj: [c.dim, c.hiddenDim],
  };
}

/** Wrap config + weights into a Model (validates shapes, builds RoPE tables). */
export function createModel(config: Config, weights: Weights, name = "model"): Model {
  validateConfig(config);
  const shapes = weightShapes(config);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  if (weights.layers.length !== config.nLayers) throw new ModelError(`${weights.layers.length} layers given, config says ${config.nLayers}`);
  weights.layers.forEach((lw, l) => {
    for (const [k, s] of Object.entries(shapes)) {
      const got = lw[k as keyof LayerWeights]?.length;
      if (got !== size(s)) throw new ModelError(`layer ${l} ${k}: ${got} values, expected [${s}]`);
    }
  });
  if (weights.embed_tokens.length !== config.vocabSize * config.dim) throw new ModelError("embed_tokens has the wrong size");
  if (weights.lm_head.length !== config.vocabSize * config.dim) throw new ModelError("lm_head has the wrong size");
  if (weights.norm.length !== config.dim) throw new ModelError("norm has the wrong size");
  return { config, weights, rope: ropeTables(config.maxSeqLen, config.dim / config.nHeads, config.ropeTheta), name };
}

/** Random weights (N(0, 0.02) projections, unit norms), for tests and pretraining from scratch. */
export function randomWeights(c: Config, rng: { normal(): number }, std = 0.02): Weights {
  validateConfig(c);
  const shapes = weightShapes(c);
  const fill = (n: number, v: number | null) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = v ?? rng.normal() * std;
    return a;
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const lw = {} as LayerWeights;
    for (const [k, s] of Object.entries(shapes)) lw[k as keyof LayerWeights] = fill(s.reduce((a, b) => a * b, 1), s.length === 1 ? 1 : null);
    layers.push(lw);
  }
  const embed = fill(c.vocabSize * c.dim, null);
  return { embed_tokens: embed, layers, norm: fill(c.dim, 1), lm_head: c.tieEmbeddings ? embed : fill(c.vocabSize * c.dim, null) };
}

/** One sequence's keys and values for every layer and position. */
export interface KvCache {
  key: Float32Array; // (nLayers, maxSeqLen, nKvHeads·headDim)
  value: Float32Array; // (nLayers, maxSeqLen, nKvHeads·headDim)
}

/** Allocate a KV cache for one sequence of up to config.maxSeqLen tokens. */
export function createKvCache(c: Config): KvCache {
  const n = c.nLayers * c.maxSeqLen * (c.dim / c.nHeads) * c.nKvHeads;
  return { key: heapFloats(n), value: heapFloats(n) }; // in the kernel heap: attention reads it in place
}

/** Activation buffers for a batch of up to maxBatch rows, allocated once. */
export interface RunState {
  maxBatch: number;
  x: Float32Array; // (B, dim) residual stream
  xb: Float32Array; // (B, dim) normed input of a sublayer
  q: Float32Array; // (B, nHeads·headDim)
  k: Float32Array; // (B, nKvHeads·headDim)
  v: Float32Array; // (B, nKvHeads·headDim)
  att: Float32Array; // (B, nHeads·headDim) attention output
  att2: Float32Array; // (B, dim) after o_proj
  scores: Float32Array; // (maxSeqLen) one head's attention scores
  hb: Float32Array; // (B, hiddenDim) gate
  hb2: Float32Array; // (B, hiddenDim) up
  logits: Float32Array; // (B, vocab)
  mid: Float32Array; // (maxRank) LoRA scratch
  pos: Int32Array; // (B) positions of the rows
  adapters: Array<LoraAdapter | null>; // (B) the rows' adapters, rewritten each step
  planCtx?: { config: Config }; // forward()'s step-plan context: one per (RunState, config), since its rank check reads this state's maxRank
}

/** Allocate the RunState for batches of up to maxBatch rows and adapters of rank ≤ maxRank. */
export function createRunState(c: Config, maxBatch: number, maxRank = 64): RunState {
  const hd = c.dim / c.nHeads, B = maxBatch;
  // the activations in the kernel heap, so the matmuls and the batched LoRA delta read and
  // write them in place instead of copying each in and out on every projection of every step.
  // Not the logits: forward() hands out a view of them, and a view of a heap block must not
  // outlive its array (kernels/index.ts heapFloats). Only for a RunState of up to 16 MiB (a
  // scheduler's batch): heap blocks are kept for reuse by size, and generate() makes one per
  // prompt length, whose big prefill matmuls hardly notice the copies anyway
  const floats = B * (3 * c.dim + 2 * c.nHeads * hd + 2 * c.nKvHeads * hd + 2 * c.hiddenDim);
  const act = floats * 4 <= 16 * 2 ** 20 ? heapFloats : (n: number) => new Float32Array(n);
  return {
    maxBatch,
    x: act(B * c.dim),
    xb: act(B * c.dim),
    q: act(B * c.nHeads * hd),
    k: act(B * c.nKvHeads * hd),
    v: act(B * c.nKvHeads * hd),
    att: act(B * c.nHeads * hd),
    att2: act(B * c.dim),
    scores: new Float32Array(c.maxSeqLen),
    hb: act(B * c.hiddenDim),
    hb2: act(B * c.hiddenDim),
    logits: new Float32Array(B * c.vocabSize),
    mid: new Float32Array(maxRank),
    pos: new Int32Array(B),
    adapters: [],
  };
}

/** One row of a decode step: a sequence's next token, its position, its cache and adapter. */
export interface Row {
  token: number;
  pos: number;
  kv: KvCache;
  adapter: LoraAdapter | null;
}

const PLAN_MIN_ROWS = 8; // batches from this many rows resolve their adapters once a step (kernels/index.ts planLoraStep)

// the projections an adapter has a pair for in some layer (its layers are fixed once made), for
// the config its shapes were checked against: the kernels read its matrices by the model's
// shapes, so an adapter made for another model would be read past its ends, not refused
const projections = new WeakMap<LoraAdapter, { config: Config; targets: Target[] }>();
/** Throw LoraError unless `a` fits the model of config `c`; its projections. Checked once per adapter and config (the scheduler's submit and forward() share it). */
export function projectionsOf(a: LoraAdapter, c: Config): Target[] {
  let e = projections.get(a);
  if (e?.config !== c) {
    checkLoraFits(c, a); // LoraError naming what does not fit
    projections.set(a, (e = { config: c, targets: [...new Set(a.layers.flatMap((l) => Object.keys(l) as Target[]))] }));
  }
  return e!.targets;
}

/**
 * Run one step for every row: write each row's token into its KV cache at its position and
 * return logits (rows.length, vocab) in state.logits. Rows are independent sequences.
 */
export function forward(m: Model, rows: ReadonlyArray<Row>, s: RunState): Float32Array {
  const c = m.config, w = m.weights, B = rows.length;
  const dim = c.dim, hd = dim / c.nHeads, qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd, hid = c.hiddenDim;
  const group = c.nHeads / c.nKvHeads;
  if (B > s.maxBatch) throw new ModelError(`batch of ${B} exceeds RunState.maxBatch ${s.maxBatch}`);
  const adapters = s.adapters;
  adapters.length = B;
  let anyAdapter = false;
  for (let b = 0; b < B; b++) anyAdapter = (adapters[b] = rows[b]!.adapter) !== null || anyAdapter;
  // an adapter a row takes up: its rank fits the scratch, its shapes the model (LoraError)
  const check = (a: LoraAdapter) => {
    if (a.config.r > s.mid.length) throw new ModelError(`adapter rank ${a.config.r} exceeds RunState maxRank ${s.mid.length}`);
    projectionsOf(a, c);
  };
  // every row's adapter resident in the kernel heap: its row tables for all layers at once, the
  // rows the last step had carried over without a look at their adapters (which the check and
  // the tables would otherwise read, a cache miss each with many distinct adapters). Not for a
  // few rows: finding theirs on each call costs less than a plan (single-stream decode). The
  // plan's context is this RunState's with this config: `check` reads both (s.mid.length, c), so
  // rows carried over from a plan made with another RunState are checked again
  const ctx = s.planCtx?.config === c ? s.planCtx : (s.planCtx = { config: c });
  const plan = anyAdapter && B >= PLAN_MIN_ROWS ? planLoraStep(adapters, c.nLayers, null, check, ctx) : null;
  // without a plan, the projections some row's adapter targets: the others skip the delta without a look at each row
  const adapted = new Set<Target>();
  if (!plan)
    for (let b = 0; b < B; b++) {
      const a = adapters[b];
      if (!a || a === adapters[b - 1]) continue; // a sequence's prefill rows share one adapter
      check(a);
      for (const t of projectionsOf(a, c)) adapted.add(t);
    }
  // the base matmuls of projections that share an input x (n wide), one pass over each W for the
  // whole batch, then every row's own deltas: with a plan, all of them in one kernel call (a
  // row's matrices for these projections are adjacent in its adapter's block)
  const projGroup = (x: Float32Array, n: number, l: number, outs: ReadonlyArray<readonly [Target, Float32Array, Float32Array, number]>) => {
    for (const [, out, W, d] of outs) matmul(out, x, W, B, n, d);
    if (plan) return addLoraDeltaGroup(plan, x, n, l, outs.map(([t, out, , d]): LoraOutput => [t, out, d]), s.mid); // it skips the projections no row has
    if (!adapted.size) return;
    for (const [t, out, , d] of outs) if (adapted.has(t)) addLoraDelta(out, x, adapters, l, t, n, d, s.mid);
  };

  // token embeddings
  for (let b = 0; b < B; b++) {
    const { token, pos } = rows[b]!;
    if (!(token >= 0 && token < c.vocabSize)) throw new ModelError(`token ${token} out of vocabulary (${c.vocabSize})`);
    if (!(pos >= 0 && pos < c.maxSeqLen)) throw new ModelError(`position ${pos} outside context of ${c.maxSeqLen}`);
    s.x.set(w.embed_tokens.subarray(token * dim, (token + 1) * dim), b * dim);
    s.pos[b] = pos;
  }

  for (let l = 0; l < c.nLayers; l++) {
    const lw = w.layers[l]!;
    // attention: rmsnorm, q/k/v projections, RoPE
    rmsnorm(s.xb, s.x, lw.input_layernorm, B, dim, c.normEps);
    projGroup(s.xb, dim, l, [["q_proj", s.q, lw.q_proj, qDim], ["k_proj", s.k, lw.k_proj, kvDim], ["v_proj", s.v, lw.v_proj, kvDim]]);
    rope(s.q, B, c.nHeads, hd, s.pos, m.rope);
    rope(s.k, B, c.nKvHeads, hd, s.pos, m.rope);

    for (let b = 0; b < B; b++) {
      const { kv, pos } = rows[b]!;
      // store this row's key and value at (layer, pos)
      const lo = l * c.maxSeqLen * kvDim;
      kv.key.set(s.k.subarray(b * kvDim, (b + 1) * kvDim), lo + pos * kvDim);
      kv.value.set(s.v.subarray(b * kvDim, (b + 1) * kvDim), lo + pos * kvDim);
      // multi-head attention over positions 0..pos of this row's own cache (the SIMD kernel,
      // or the loop below, which is what it computes)
      if (attendRow(s.att, b * qDim, s.q, b * qDim, kv.key, kv.value, lo, pos, c.nHeads, c.nKvHeads, hd)) continue;
      for (let h = 0; h < c.nHeads; h++) {
        const qo = b * qDim + h * hd, ko = lo + Math.floor(h / group) * hd;
        let max = -Infinity;
        for (let t = 0; t <= pos; t++) {
          let dot = 0;
          const kt = ko + t * kvDim;
          for (let i = 0; i < hd; i++) dot += s.q[qo + i]! * kv.key[kt + i]!;
          dot /= Math.sqrt(hd);
          s.scores[t] = dot;
          if (dot > max) max = dot;
        }
        let sum = 0;
        for (let t = 0; t <= pos; t++) sum += s.scores[t] = Math.exp(s.scores[t]! - max);
        s.att.fill(0, qo, qo + hd);
        for (let t = 0; t <= pos; t++) {
          const a = s.scores[t]! / sum, vt = ko + t * kvDim;
          for (let i = 0; i < hd; i++) s.att[qo + i] = s.att[qo + i]! + (a * kv.value[vt + i]!);
        }
      }
    }
    projGroup(s.att, qDim, l, [["o_proj", s.att2, lw.o_proj, dim]]);
    for (let i = 0; i < B * dim; i++) s.x[i] = s.x[i]! + s.att2[i]!; // residual

    // MLP: rmsnorm, down(silu(gate(x)) * up(x))
    rmsnorm(s.xb, s.x, lw.post_attention_layernorm, B, dim, c.normEps);
    projGroup(s.xb, dim, l, [["gate_proj", s.hb, lw.gate_proj, hid], ["up_proj", s.hb2, lw.up_proj, hid]]);
    swiglu(s.hb, s.hb, s.hb2, B * hid); // silu(gate) · up, in place
    projGroup(s.hb, hid, l, [["down_proj", s.att2, lw.down_proj, dim]]);
    for (let i = 0; i < B * dim; i++) s.x[i] = s.x[i]! + s.att2[i]!; // residual
  }

  // final norm and classifier
  rmsnorm(s.x, s.x, w.norm, B, dim, c.normEps);
  matmul(s.logits, s.x, w.lm_head, B, dim, c.vocabSize);
  return s.logits.subarray(0, B * c.vocabSize);
}
