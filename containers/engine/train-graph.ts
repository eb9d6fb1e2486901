// Training forward and exact backward over one sequence (nanoGPT's model.py, by hand).
// The forward keeps every activation the backward needs; the backward walks the graph in
// reverse and accumulates gradients for the LoRA matrices and, when pretraining, the base
// weights. Runs in the precision of the arrays it is given: fp32 for training, fp64 in tests.
import { probsLength, rope, type Arr } from "./ops.ts";
// WASM SIMD on fp32, the ops.ts references on fp64 (the gradient checks)
import { addScaled, attention, attentionBackward, crossEntropy, matmul, matmulBackward, rmsnorm, rmsnormBackward, swiglu, swigluBackward, type HeapArena } from "./kernels/index.ts";
import { TARGETS, type LoraAdapter, type LoraPair, type Target } from "./lora.ts";
import type { LayerWeights, Model, Weights } from "./model.ts";
import type { Rng } from "./rng.ts";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Gradients: per-adapter-pair (dA, dB) and, for pretraining, one per base weight. */
export interface Grads {
  lora: Array<Partial<Record<Target, { A: Arr; B: Arr }>>> | null;
  base: { embed_tokens: Arr; layers: Record<keyof LayerWeights, Arr>[]; norm: Arr; lm_head: Arr } | null;
}

/** Zeroed gradient buffers matching the adapter (if any) and the base weights (if trainBase). */
export function createGrads(m: Model, adapter: LoraAdapter | null, trainBase: boolean, ctor: Ctor = Float32Array): Grads {
  const like = (a: { length: number }) => new ctor(a.length);
  const lora = adapter
    ? adapter.layers.map((layer) => {
        const g: Partial<Record<Target, { A: Arr; B: Arr }>> = {};
        for (const [t, p] of Object.entries(layer) as [Target, LoraPair][]) g[t] = { A: like(p.A), B: like(p.B) };
        return g;
      })
    : null;
  let base: Grads["base"] = null;
  if (trainBase) {
    const w = m.weights;
    const embed = like(w.embed_tokens);
    base = {
      embed_tokens: embed,
      layers: w.layers.map((lw) => Object.fromEntries(Object.entries(lw).map(([k, v]) => [k, like(v)])) as Record<keyof LayerWeights, Arr>),
      norm: like(w.norm),
      lm_head: w.lm_head === w.embed_tokens ? embed : like(w.lm_head),
    };
  }
  return { lora, base };
}

/** Every (param, grad) pair, in a fixed order (the optimizer's and the checkpoint's order). */
export function paramList(m: Model, adapter: LoraAdapter | null, g: Grads): Array<{ name: string; param: Arr; grad: Arr }> {
  const out: Array<{ name: string; param: Arr; grad: Arr }> = [];
  if (adapter && g.lora)
    adapter.layers.forEach((layer, l) => {
      for (const t of TARGETS) {
        const p = layer[t], gp = g.lora![l]![t];
        if (!p || !gp) continue;
        out.push({ name: `${l}.${t}.A`, param: p.A, grad: gp.A }, { name: `${l}.${t}.B`, param: p.B, grad: gp.B });
      }
    });
  if (g.base) {
    const w = m.weights, b = g.base;
    out.push({ name: "embed_tokens", param: w.embed_tokens, grad: b.embed_tokens });
    w.layers.forEach((lw, l) => {
      for (const k of Object.keys(lw) as (keyof LayerWeights)[]) out.push({ name: `${l}.${k}`, param: lw[k], grad: b.layers[l]![k] });
    });
    out.push({ name: "norm", param: w.norm, grad: b.norm });
    if (w.lm_head !== w.embed_tokens) out.push({ name: "lm_head", param: w.lm_head, grad: b.lm_head });
  }
  return out;
}

interface LoraAct { xd: Arr; hs: Arr; mask: Uint8Array | null } // dropped input (T,in), scale·A·xd (T,r)
interface LayerAct {
  xIn: Arr; xn1: Arr; q: Arr; k: Arr; v: Arr; probs: Arr; att: Arr; xMid: Arr; xn2: Arr; gate: Arr; up: Arr; act: Arr;
  lora: Partial<Record<Target, LoraAct>>;
}

/** Activations of one forward pass, kept for the backward. */
export interface Tape {
  T: number;
  tokens: ArrayLike<number>;
  layers: LayerAct[];
  xF: Arr; // (T,dim) final residual
  xnF: Arr; // (T,dim) after final norm
  logits: Arr; // (T,vocab)
  pos: Int32Array; // (T) RoPE positions
  starts: ArrayLike<number> | null; // (T) document starts (block-diagonal mask), null: one document
  arena: HeapArena | null; // where the activations live (the backward allocates there too)
  dlogits: Arr | null; // (T,vocab) ∂loss/∂logits at gradScale 1, when the forward trained (arena and rng): the backward then skips a pass over the logits
}

/**
 * n floats from the step arena (fp32 in the kernel heap: no copies per kernel call) when given,
 * else a new array. zero = false for an output its op writes whole (matmul, norm, attention):
 * zeroing the step's ~20 MB of activations only to overwrite them cost as much as an op.
 */
const floats = (ctor: Ctor, arena: HeapArena | null, n: number, zero = true): Arr => (arena && ctor === Float32Array ? arena.floats(n, zero) : new ctor(n));

/**
 * out(T,d) += scale · (xd·Aᵀ)·Bᵀ with xd the dropped-out input; returns what the backward needs.
 * Inverted dropout on the LoRA input, as PEFT's lora_dropout, drawn from rng when given.
 */
function loraForward(out: Arr, x: Arr, p: LoraPair, scale: number, drop: number, rng: Rng | null, T: number, n: number, d: number, r: number, alloc: (n: number) => Arr): LoraAct {
  let xd = x, mask: Uint8Array | null = null;
  if (drop > 0 && rng) {
    xd = alloc(T * n);
    mask = new Uint8Array(T * n);
    for (let i = 0; i < T * n; i++) if (rng.next() >= drop) { mask[i] = 1; xd[i] = x[i]! / (1 - drop); }
  }
  const hs = alloc(T * r), Bt = alloc(r * d);
  matmul(hs, xd, p.A, T, n, r);
  for (let i = 0; i < T * r; i++) hs[i] = hs[i]! * scale; // scaled here, on T·r values, rather than the T·d delta
  // out += hs·Bᵀ, added in place as matmul's dx product (dx += dy·w) with w = Bᵀ (r, d): B
  // changes every step, so it is transposed per call (r·d values), which beats a (T, d) delta
  // from an r-long inner product and a pass to add it
  for (let i = 0; i < d; i++) for (let k = 0; k < r; k++) Bt[k * d + i] = p.B[i * r + k]!;
  matmulBackward(out, null, hs, hs, Bt, T, d, r);
  return { xd, hs, mask };
}

/**
 * Backward of loraForward for dy (T,d): dB += dyᵀ·hs, dA += dhᵀ·xd with dh = scale·dy·B, and
 * dx += dh·A through the dropout mask (dx null: the input's gradient is not needed).
 */
function loraBackward(dx: Arr | null, g: { A: Arr; B: Arr } | null, dy: Arr, act: LoraAct, p: LoraPair, scale: number, keep: number, T: number, n: number, d: number, r: number, alloc: (n: number) => Arr): void {
  const dh = alloc(T * r);
  matmulBackward(dh, g ? g.B : null, dy, act.hs, p.B, T, r, d);
  for (let i = 0; i < T * r; i++) dh[i] = dh[i]! * scale;
  if (!act.mask || !dx) return matmulBackward(dx, g ? g.A : null, dh, act.xd, p.A, T, n, r); // accumulates into dx itself
  const dxd = alloc(T * n);
  matmulBackward(dxd, g ? g.A : null, dh, act.xd, p.A, T, n, r);
  for (let i = 0; i < T * n; i++) if (act.mask[i]) dx[i] = dx[i]! + dxd[i]! * keep;
}

/**
 * Forward over tokens (T) with targets (T, −1 = no loss there); returns the mean loss and the tape.
 * Dropout on LoRA inputs is drawn from `rng` when given (training), skipped otherwise (eval).
 * `starts` (packed documents, see packing.ts): token t sees only its own document, at position t − starts[t].
 * `arena` (withStepArena): the activations go there; the tape is then valid until it is reset.
 */
export function forwardTrain(m: Model, adapter: LoraAdapter | null, tokens: ArrayLike<number>, targets: ArrayLike<number>, rng: Rng | null, ctor: Ctor = Float32Array, starts: ArrayLike<number> | null = null, arena: HeapArena | null = null): { loss: number; count: number; tape: Tape } {
  const c = m.config, w = m.weights, T = tokens.length;
  const dim = c.dim, hd = dim / c.nHeads, qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd, hid = c.hiddenDim;
  if (T > c.maxSeqLen) throw new Error(`sequence of ${T} exceeds maxSeqLen ${c.maxSeqLen}`);
  if (starts && starts.length !== T) throw new Error(`starts has ${starts.length} entries for ${T} tokens`);
  const pos = new Int32Array(T);
  for (let t = 0; t < T; t++) {
    const s0 = starts ? starts[t]! : 0;
    if (!(s0 >= 0 && s0 <= t)) throw new Error(`starts[${t}] = ${s0} is not in 0..${t}`);
    pos[t] = t - s0;
  }
  const alloc = (n: number) => floats(ctor, arena, n), out = (n: number) => floats(ctor, arena, n, false);

  const linear = (la: LayerAct, l: number, t: Target, out: Arr, x: Arr, W: Arr, n: number, d: number) => {
    matmul(out, x, W, T, n, d);
    const p = adapter?.layers[l]?.[t];
    if (p && adapter) la.lora[t] = loraForward(out, x, p, adapter.scale, rng ? adapter.config.dropout : 0, rng, T, n, d, adapter.config.r, alloc);
  };

  let x: Arr = alloc(T * dim);
  for (let t = 0; t < T; t++) {
    const tok = tokens[t]!;
    if (!(tok >= 0 && tok < c.vocabSize)) throw new Error(`token ${tok} out of vocabulary (${c.vocabSize})`);
    for (let j = 0; j < dim; j++) x[t * dim + j] = w.embed_tokens[tok * dim + j]!;
  }
  const layers: LayerAct[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const lw = w.layers[l]!;
    const a: LayerAct = {
      xIn: x, xn1: out(T * dim), q: out(T * qDim), k: out(T * kvDim), v: out(T * kvDim),
      probs: out(probsLength(T, c.nHeads)), att: out(T * qDim), xMid: out(T * dim), xn2: out(T * dim),
      gate: out(T * hid), up: out(T * hid), act: out(T * hid), lora: {},
    };
    rmsnorm(a.xn1, x, lw.input_layernorm, T, dim, c.normEps);
    linear(a, l, "q_proj", a.q, a.xn1, lw.q_proj, dim, qDim);
    linear(a, l, "k_proj", a.k, a.xn1, lw.k_proj, dim, kvDim);
    linear(a, l, "v_proj", a.v, a.xn1, lw.v_proj, dim, kvDim);
    rope(a.q, T, c.nHeads, hd, pos, m.rope);
    rope(a.k, T, c.nKvHeads, hd, pos, m.rope);
    attention(a.att, a.probs, a.q, a.k, a.v, T, c.nHeads, c.nKvHeads, hd, starts);
    linear(a, l, "o_proj", a.xMid, a.att, lw.o_proj, qDim, dim);
    addScaled(a.xMid, x, 1, T * dim);
    rmsnorm(a.xn2, a.xMid, lw.post_attention_layernorm, T, dim, c.normEps);
    linear(a, l, "gate_proj", a.gate, a.xn2, lw.gate_proj, dim, hid);
    linear(a, l, "up_proj", a.up, a.xn2, lw.up_proj, dim, hid);
    swiglu(a.act, a.gate, a.up, T * hid);
    const xOut = out(T * dim);
    linear(a, l, "down_proj", xOut, a.act, lw.down_proj, hid, dim);
    addScaled(xOut, a.xMid, 1, T * dim);
    layers.push(a);
    x = xOut;
  }
  const xnF = out(T * dim), logits = out(T * c.vocabSize);
  rmsnorm(xnF, x, w.norm, T, dim, c.normEps);
  matmul(logits, xnF, w.lm_head, T, dim, c.vocabSize);
  // a training step (arena and rng: train.ts) takes the loss's gradient in the same pass as the loss
  const dlogits = arena && rng ? out(T * c.vocabSize) : null;
  const { sum, count } = crossEntropy(dlogits, logits, targets, T, c.vocabSize);
  return { loss: count ? sum / count : 0, count, tape: { T, tokens, layers, xF: x, xnF, logits, pos, starts, arena, dlogits } };
}

/** Backward from the loss through the tape; accumulates into grads, scaled by gradScale. */
export function backward(m: Model, adapter: LoraAdapter | null, tape: Tape, targets: ArrayLike<number>, g: Grads, gradScale = 1, ctor: Ctor = Float32Array): void {
  const c = m.config, w = m.weights, T = tape.T;
  const dim = c.dim, hd = dim / c.nHeads, qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd, hid = c.hiddenDim;
  const gb = g.base;
  const alloc = (n: number) => floats(ctor, tape.arena, n);
  // the gradient of a layer's input is needed only while something trainable lies below it: the
  // base weights (pretraining) or an adapter pair in a lower layer. Below the lowest LoRA layer
  // nothing is computed (autograd skips the same work).
  let lowest = gb ? -1 : c.nLayers;
  if (!gb && adapter && g.lora) g.lora.forEach((layer, l) => { if (Object.keys(layer).length && l < lowest) lowest = l; });

  const linearBack = (la: LayerAct, l: number, t: Target, dx: Arr | null, dy: Arr, x: Arr, W: Arr, dW: Arr | null, n: number, d: number) => {
    if (dx || dW) matmulBackward(dx, dW, dy, x, W, T, n, d);
    const p = adapter?.layers[l]?.[t], act = la.lora[t], gp = g.lora?.[l]?.[t];
    if (!p || !adapter || !act) return;
    loraBackward(dx, gp ?? null, dy, act, p, adapter.scale, 1 / (1 - adapter.config.dropout), T, n, d, adapter.config.r, alloc);
  };

  // loss → logits → final norm
  let dlogits = tape.dlogits;
  if (dlogits) {
    if (gradScale !== 1) for (let i = 0; i < T * c.vocabSize; i++) dlogits[i] = dlogits[i]! * gradScale;
  } else {
    dlogits = floats(ctor, tape.arena, T * c.vocabSize, false); // cross_entropy writes every entry
    crossEntropy(dlogits, tape.logits, targets, T, c.vocabSize, gradScale);
  }
  const dxnF = alloc(T * dim);
  matmulBackward(dxnF, gb ? gb.lm_head : null, dlogits, tape.xnF, w.lm_head, T, dim, c.vocabSize);
  const dx: Arr = alloc(T * dim); // the residual stream's gradient, updated in place layer by layer
  rmsnormBackward(dx, gb ? gb.norm : null, dxnF, tape.xF, w.norm, T, dim, c.normEps);

  for (let l = c.nLayers - 1; l >= lowest && l >= 0; l--) {
    const a = tape.layers[l]!, lw = w.layers[l]!, gl = gb ? gb.layers[l]! : null;
    // MLP: xOut = xMid + down(silu(gate)·up); dx (of xOut) becomes dMid in place
    const dAct = alloc(T * hid), dGate = alloc(T * hid), dUp = alloc(T * hid), dxn2 = alloc(T * dim);
    linearBack(a, l, "down_proj", dAct, dx, a.act, lw.down_proj, gl?.down_proj ?? null, hid, dim);
    swigluBackward(dGate, dUp, dAct, a.gate, a.up, T * hid);
    linearBack(a, l, "gate_proj", dxn2, dGate, a.xn2, lw.gate_proj, gl?.gate_proj ?? null, dim, hid);
    linearBack(a, l, "up_proj", dxn2, dUp, a.xn2, lw.up_proj, gl?.up_proj ?? null, dim, hid);
    rmsnormBackward(dx, gl?.post_attention_layernorm ?? null, dxn2, a.xMid, lw.post_attention_layernorm, T, dim, c.normEps);
    // attention: xMid = xIn + o(attn(rope(q), rope(k), v)); dx becomes dIn in place
    const dAtt = alloc(T * qDim), dq = alloc(T * qDim), dk = alloc(T * kvDim), dv = alloc(T * kvDim);
    linearBack(a, l, "o_proj", dAtt, dx, a.att, lw.o_proj, gl?.o_proj ?? null, qDim, dim);
    attentionBackward(dq, dk, dv, dAtt, a.probs, a.q, a.k, a.v, T, c.nHeads, c.nKvHeads, hd, tape.starts);
    rope(dq, T, c.nHeads, hd, tape.pos, m.rope, -1); // a rotation's backward is its inverse
    rope(dk, T, c.nKvHeads, hd, tape.pos, m.rope, -1);
    const dxn1 = l > lowest ? alloc(T * dim) : null; // the lowest trained layer's input gradient is not needed
    linearBack(a, l, "q_proj", dxn1, dq, a.xn1, lw.q_proj, gl?.q_proj ?? null, dim, qDim);
    linearBack(a, l, "k_proj", dxn1, dk, a.xn1, lw.k_proj, gl?.k_proj ?? null, dim, kvDim);
    linearBack(a, l, "v_proj", dxn1, dv, a.xn1, lw.v_proj, gl?.v_proj ?? null, dim, kvDim);
    if (dxn1) rmsnormBackward(dx, gl?.input_layernorm ?? null, dxn1, a.xIn, lw.input_layernorm, T, dim, c.normEps);
  }
  if (gb)
    for (let t = 0; t < T; t++) {
      const tok = tape.tokens[t]!;
      for (let j = 0; j < dim; j++) gb.embed_tokens[tok * dim + j] = gb.embed_tokens[tok * dim + j]! + (dx[t * dim + j]!);
    }
}

/** Convert a model (and adapter) to fp64 copies: the finite-difference checks run on these. */
export function toFloat64(m: Model, adapter: LoraAdapter | null = null): { model: Model; adapter: LoraAdapter | null } {
  const f = (a: Float32Array) => new Float64Array(a) as unknown as Float32Array;
  const w = m.weights;
  const embed = f(w.embed_tokens);
  const weights: Weights = {
    embed_tokens: embed,
    layers: w.layers.map((lw) => Object.fromEntries(Object.entries(lw).map(([k, v]) => [k, f(v)])) as unknown as LayerWeights),
    norm: f(w.norm),
    lm_head: w.lm_head === w.embed_tokens ? embed : f(w.lm_head),
  };
  const ad = adapter && {
    ...adapter,
    layers: adapter.layers.map((layer) => Object.fromEntries(Object.entries(layer).map(([t, p]) => [t, { ...p, A: f(p.A), B: f(p.B) }]))),
  };
  return { model: { ...m, weights }, adapter: ad };
}
