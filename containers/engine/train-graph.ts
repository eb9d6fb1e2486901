// Training forward and exact backward over one sequence (nanoGPT's model.py, by hand).
// The forward keeps every activation the backward needs; the backward walks the graph in
// reverse and accumulates gradients for the LoRA matrices and, when pretraining, the base
// weights. Runs in the precision of the arrays it is given: fp32 for training, fp64 in tests.
import { rope, type Arr } from "./ops.ts";
// WASM SIMD on fp32, the ops.ts references on fp64 (the gradient checks)
import { attention, attentionBackward, crossEntropy, matmul, matmulBackward, rmsnorm, rmsnormBackward, swiglu, swigluBackward } from "./kernels/index.ts";
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

interface LoraAct { xd: Arr; h: Arr; mask: Uint8Array | null } // dropped input (T,in), A·xd (T,r)
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
}

/**
 * Forward over tokens (T) with targets (T, −1 = no loss there); returns the mean loss and the tape.
 * Dropout on LoRA inputs is drawn from `rng` when given (training), skipped otherwise (eval).
 * `starts` (packed documents, see packing.ts): token t sees only its own document, at position t − starts[t].
 */
export function forwardTrain(m: Model, adapter: LoraAdapter | null, tokens: ArrayLike<number>, targets: ArrayLike<number>, rng: Rng | null, ctor: Ctor = Float32Array, starts: ArrayLike<number> | null = null): { loss: number; count: number; tape: Tape } {
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

  const linear = (la: LayerAct, l: number, t: Target, out: Arr, x: Arr, W: Arr, n: number, d: number) => {
    matmul(out, x, W, T, n, d);
    const p = adapter?.layers[l]?.[t];
    if (!p || !adapter) return;
    const r = adapter.config.r, drop = rng ? adapter.config.dropout : 0;
    let xd = x, mask: Uint8Array | null = null;
    if (drop > 0) {
      // inverted dropout on the LoRA input, as PEFT's lora_dropout
      xd = new ctor(T * n);
      mask = new Uint8Array(T * n);
      for (let i = 0; i < T * n; i++) if (rng!.next() >= drop) { mask[i] = 1; xd[i] = x[i]! / (1 - drop); }
    }
    const h = new ctor(T * r), delta = new ctor(T * d);
    matmul(h, xd, p.A, T, n, r);
    matmul(delta, h, p.B, T, r, d);
    for (let i = 0; i < T * d; i++) out[i] = out[i]! + adapter.scale * delta[i]!;
    la.lora[t] = { xd, h, mask };
  };

  let x: Arr = new ctor(T * dim);
  for (let t = 0; t < T; t++) {
    const tok = tokens[t]!;
    if (!(tok >= 0 && tok < c.vocabSize)) throw new Error(`token ${tok} out of vocabulary (${c.vocabSize})`);
    for (let j = 0; j < dim; j++) x[t * dim + j] = w.embed_tokens[tok * dim + j]!;
  }
  const layers: LayerAct[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const lw = w.layers[l]!;
    const a: LayerAct = {
      xIn: x, xn1: new ctor(T * dim), q: new ctor(T * qDim), k: new ctor(T * kvDim), v: new ctor(T * kvDim),
      probs: new ctor(c.nHeads * T * T), att: new ctor(T * qDim), xMid: new ctor(T * dim), xn2: new ctor(T * dim),
      gate: new ctor(T * hid), up: new ctor(T * hid), act: new ctor(T * hid), lora: {},
    };
    rmsnorm(a.xn1, x, lw.input_layernorm, T, dim, c.normEps);
    linear(a, l, "q_proj", a.q, a.xn1, lw.q_proj, dim, qDim);
    linear(a, l, "k_proj", a.k, a.xn1, lw.k_proj, dim, kvDim);
    linear(a, l, "v_proj", a.v, a.xn1, lw.v_proj, dim, kvDim);
    rope(a.q, T, c.nHeads, hd, pos, m.rope);
    rope(a.k, T, c.nKvHeads, hd, pos, m.rope);
    attention(a.att, a.probs, a.q, a.k, a.v, T, c.nHeads, c.nKvHeads, hd, starts);
    linear(a, l, "o_proj", a.xMid, a.att, lw.o_proj, qDim, dim);
    for (let i = 0; i < T * dim; i++) a.xMid[i] = a.xMid[i]! + x[i]!;
    rmsnorm(a.xn2, a.xMid, lw.post_attention_layernorm, T, dim, c.normEps);
    linear(a, l, "gate_proj", a.gate, a.xn2, lw.gate_proj, dim, hid);
    linear(a, l, "up_proj", a.up, a.xn2, lw.up_proj, dim, hid);
    swiglu(a.act, a.gate, a.up, T * hid);
    const xOut = new ctor(T * dim);
    linear(a, l, "down_proj", xOut, a.act, lw.down_proj, hid, dim);
    for (let i = 0; i < T * dim; i++) xOut[i] = xOut[i]! + a.xMid[i]!;
    layers.push(a);
    x = xOut;
  }
  const xnF = new ctor(T * dim), logits = new ctor(T * c.vocabSize);
  rmsnorm(xnF, x, w.norm, T, dim, c.normEps);
  matmul(logits, xnF, w.lm_head, T, dim, c.vocabSize);
  const { sum, count } = crossEntropy(null, logits, targets, T, c.vocabSize);
  return { loss: count ? sum / count : 0, count, tape: { T, tokens, layers, xF: x, xnF, logits, pos, starts } };
}

/** Backward from the loss through the tape; accumulates into grads, scaled by gradScale. */
export function backward(m: Model, adapter: LoraAdapter | null, tape: Tape, targets: ArrayLike<number>, g: Grads, gradScale = 1, ctor: Ctor = Float32Array): void {
  const c = m.config, w = m.weights, T = tape.T;
  const dim = c.dim, hd = dim / c.nHeads, qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd, hid = c.hiddenDim;
  const gb = g.base;

  const linearBack = (la: LayerAct, l: number, t: Target, dx: Arr, dy: Arr, x: Arr, W: Arr, dW: Arr | null, n: number, d: number) => {
    matmulBackward(dx, dW, dy, x, W, T, n, d);
    const p = adapter?.layers[l]?.[t], act = la.lora[t], gp = g.lora?.[l]?.[t];
    if (!p || !adapter || !act) return;
    const r = adapter.config.r, s = adapter.scale;
    // delta = s · h·Bᵀ with h = xd·Aᵀ: dB += s·dyᵀh, dh = s·dy·B, dA += dhᵀ·xd, dxd = dh·A
    const sdy = new ctor(T * d);
    for (let i = 0; i < T * d; i++) sdy[i] = s * dy[i]!;
    const dh = new ctor(T * r);
    matmulBackward(dh, gp ? gp.B : null, sdy, act.h, p.B, T, r, d);
    const dxd = new ctor(T * n);
    matmulBackward(dxd, gp ? gp.A : null, dh, act.xd, p.A, T, n, r);
    const keep = 1 / (1 - adapter.config.dropout);
    for (let i = 0; i < T * n; i++) dx[i] = dx[i]! + (act.mask ? (act.mask[i] ? dxd[i]! * keep : 0) : dxd[i]!);
  };

  // loss → logits → final norm
  const dlogits = new ctor(T * c.vocabSize);
  crossEntropy(dlogits, tape.logits, targets, T, c.vocabSize, gradScale);
  const dxnF = new ctor(T * dim);
  matmulBackward(dxnF, gb ? gb.lm_head : null, dlogits, tape.xnF, w.lm_head, T, dim, c.vocabSize);
  let dx: Arr = new ctor(T * dim);
  rmsnormBackward(dx, gb ? gb.norm : null, dxnF, tape.xF, w.norm, T, dim, c.normEps);

  for (let l = c.nLayers - 1; l >= 0; l--) {
    const a = tape.layers[l]!, lw = w.layers[l]!, gl = gb ? gb.layers[l]! : null;
    // MLP: xOut = xMid + down(silu(gate)·up)
    const dAct = new ctor(T * hid), dGate = new ctor(T * hid), dUp = new ctor(T * hid), dxn2 = new ctor(T * dim);
    linearBack(a, l, "down_proj", dAct, dx, a.act, lw.down_proj, gl?.down_proj ?? null, hid, dim);
    swigluBackward(dGate, dUp, dAct, a.gate, a.up, T * hid);
    linearBack(a, l, "gate_proj", dxn2, dGate, a.xn2, lw.gate_proj, gl?.gate_proj ?? null, dim, hid);
    linearBack(a, l, "up_proj", dxn2, dUp, a.xn2, lw.up_proj, gl?.up_proj ?? null, dim, hid);
    const dMid = new ctor(T * dim);
    dMid.set(dx);
    rmsnormBackward(dMid, gl?.post_attention_layernorm ?? null, dxn2, a.xMid, lw.post_attention_layernorm, T, dim, c.normEps);
    // attention: xMid = xIn + o(attn(rope(q), rope(k), v))
    const dAtt = new ctor(T * qDim), dq = new ctor(T * qDim), dk = new ctor(T * kvDim), dv = new ctor(T * kvDim), dxn1 = new ctor(T * dim);
    linearBack(a, l, "o_proj", dAtt, dMid, a.att, lw.o_proj, gl?.o_proj ?? null, qDim, dim);
    attentionBackward(dq, dk, dv, dAtt, a.probs, a.q, a.k, a.v, T, c.nHeads, c.nKvHeads, hd, tape.starts);
    rope(dq, T, c.nHeads, hd, tape.pos, m.rope, -1); // a rotation's backward is its inverse
    rope(dk, T, c.nKvHeads, hd, tape.pos, m.rope, -1);
    linearBack(a, l, "q_proj", dxn1, dq, a.xn1, lw.q_proj, gl?.q_proj ?? null, dim, qDim);
    linearBack(a, l, "k_proj", dxn1, dk, a.xn1, lw.k_proj, gl?.k_proj ?? null, dim, kvDim);
    linearBack(a, l, "v_proj", dxn1, dv, a.xn1, lw.v_proj, gl?.v_proj ?? null, dim, kvDim);
    const dIn = new ctor(T * dim);
    dIn.set(dMid);
    rmsnormBackward(dIn, gl?.input_layernorm ?? null, dxn1, a.xIn, lw.input_layernorm, T, dim, c.normEps);
    dx = dIn;
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
