// Loading and saving base models: the Hugging Face layout (config.json, model.safetensors,
// tokenizer.json) and llama2.c's .bin checkpoints (7 int32 header, then fp32 tensors).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { placeWeights } from "./kernels/index.ts";
import { createModel, ModelError, weightShapes, type Config, type LayerWeights, type Model, type Weights } from "./model.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { byteTokenizer, hfTokenizer, type Tokenizer } from "./tokenizer.ts";

const LAYER_PREFIX: Record<keyof LayerWeights, string> = {
  input_layernorm: "input_layernorm",
  q_proj: "self_attn.q_proj",
  k_proj: "self_attn.k_proj",
  v_proj: "self_attn.v_proj",
  o_proj: "self_attn.o_proj",
  post_attention_layernorm: "post_attention_layernorm",
  gate_proj: "mlp.gate_proj",
  up_proj: "mlp.up_proj",
  down_proj: "mlp.down_proj",
};

/** The HF config.json of a model config. */
export function toHfConfig(c: Config, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxSeqLen,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.normEps,
    tie_word_embeddings: c.tieEmbeddings,
    hidden_act: "silu",
    torch_dtype: "float32",
    ...extra,
  };
}

/** Parse an HF config.json into our Config (rejects non-Llama features we do not implement). */
export function fromHfConfig(j: Record<string, unknown>): Config {
  const num = (k: string, dflt?: number) => {
    const v = j[k] ?? dflt;
    if (typeof v !== "number") throw new ModelError(`config.json: ${k} missing or not a number`);
    return v;
  };
  if (j.hidden_act !== undefined && j.hidden_act !== "silu") throw new ModelError(`config.json: hidden_act ${String(j.hidden_act)} is not supported (silu only)`);
  if (j.rope_scaling) throw new ModelError("config.json: rope_scaling is not supported");
  const c: Config = {
    dim: num("hidden_size"),
    hiddenDim: num("intermediate_size"),
    nLayers: num("num_hidden_layers"),
    nHeads: num("num_attention_heads"),
    nKvHeads: num("num_key_value_heads", num("num_attention_heads")),
    vocabSize: num("vocab_size"),
    maxSeqLen: num("max_position_embeddings"),
    ropeTheta: num("rope_theta", 10000),
    normEps: num("rms_norm_eps", 1e-6),
    tieEmbeddings: j.tie_word_embeddings === true,
  };
  if (j.head_dim !== undefined && j.head_dim !== c.dim / c.nHeads) throw new ModelError("config.json: head_dim other than hidden_size/num_attention_heads is not supported");
  return c;
}

/** A loaded model with its tokenizer. */
export interface LoadedModel {
  model: Model;
  tokenizer: Tokenizer;
}

/** Load a model directory in HF layout; tokenizer.json if present, else the byte tokenizer. */
export function loadHfModel(dir: string, opts: { maxSeqLen?: number } = {}): LoadedModel {
  const cfgPath = join(dir, "config.json"), stPath = join(dir, "model.safetensors");
  if (!existsSync(cfgPath)) throw new ModelError(`${dir}: no config.json`);
  if (!existsSync(stPath)) throw new ModelError(`${dir}: no model.safetensors (sharded checkpoints are not supported)`);
  const config = fromHfConfig(JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>);
  if (opts.maxSeqLen) config.maxSeqLen = Math.min(config.maxSeqLen, opts.maxSeqLen);
  const { tensors } = readSafetensors(readFileSync(stPath), { keepF64: true });
  const take = (name: string, shape: number[]) => {
    const t = tensors.get(name);
    if (!t) throw new ModelError(`model.safetensors: missing tensor ${name}`);
    if (t.shape.join(",") !== shape.join(",")) throw new ModelError(`model.safetensors: ${name} has shape [${t.shape}], expected [${shape}]`);
    // F64 weights stay F64: the fp32 kernels decline them (with a warning) and ops.ts computes in
    // full precision, rather than the checkpoint being narrowed without a word
    return (t.wide ?? t.data) as Float32Array;
  };
  const shapes = weightShapes(config);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const lw = {} as LayerWeights;
    for (const k of Object.keys(LAYER_PREFIX) as (keyof LayerWeights)[]) lw[k] = take(`model.layers.${l}.${LAYER_PREFIX[k]}.weight`, shapes[k]);
    layers.push(lw);
  }
  const embed = take("model.embed_tokens.weight", [config.vocabSize, config.dim]);
  // some tied checkpoints omit lm_head, some repeat it
  const tied = config.tieEmbeddings || !tensors.has("lm_head.weight");
  config.tieEmbeddings = tied;
  const weights: Weights = { embed_tokens: embed, layers, norm: take("model.norm.weight", [config.dim]), lm_head: tied ? embed : take("lm_head.weight", [config.vocabSize, config.dim]) };
  return { model: createModel(config, placeWeights(weights, config, basename(dir)), basename(dir)), tokenizer: loadTokenizer(dir, config.vocabSize) };
}

/** tokenizer.json (+ tokenizer_config.json) from dir, else the byte tokenizer; checks it fits the vocab. */
export function loadTokenizer(dir: string, vocabSize: number): Tokenizer {
  const p = join(dir, "tokenizer.json");
  let tok: Tokenizer;
  if (existsSync(p)) {
    const cfgPath = join(dir, "tokenizer_config.json");
    const cfg = existsSync(cfgPath) ? (JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>) : {};
    tok = hfTokenizer(JSON.parse(readFileSync(p, "utf8")) as Record<string, unknown>, cfg);
  } else tok = byteTokenizer();
  if (tok.vocabSize > vocabSize) throw new ModelError(`tokenizer has ${tok.vocabSize} tokens, the model only ${vocabSize}`);
  return tok;
}

/** Write a model in HF layout (config.json + model.safetensors), plus tokenizer files if given. */
export function saveHfModel(dir: string, m: Model, extra: { tokenizerJson?: unknown; tokenizerConfig?: unknown; configExtra?: Record<string, unknown> } = {}): void {
  mkdirSync(dir, { recursive: true });
  const c = m.config, w = m.weights;
  const shapes = weightShapes(c);
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  t.set("model.embed_tokens.weight", { shape: [c.vocabSize, c.dim], data: w.embed_tokens });
  w.layers.forEach((lw, l) => {
    for (const k of Object.keys(LAYER_PREFIX) as (keyof LayerWeights)[]) t.set(`model.layers.${l}.${LAYER_PREFIX[k]}.weight`, { shape: shapes[k], data: lw[k] });
  });
  t.set("model.norm.weight", { shape: [c.dim], data: w.norm });
  if (!c.tieEmbeddings) t.set("lm_head.weight", { shape: [c.vocabSize, c.dim], data: w.lm_head });
  writeFileSync(join(dir, "model.safetensors"), writeSafetensors(t, { format: "pt" }));
  writeFileSync(join(dir, "config.json"), JSON.stringify(toHfConfig(c, extra.configExtra), null, 2) + "\n");
  if (extra.tokenizerJson) writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(extra.tokenizerJson));
  if (extra.tokenizerConfig) writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(extra.tokenizerConfig, null, 2) + "\n");
}

// llama2.c rotates interleaved pairs (2i, 2i+1); HF rotates (i, i+hd/2). Its export script
// permutes q/k rows accordingly, so we undo that: HF row (h, half, i) = llama2.c row (h, i, half).
function permuteRows(w: Float32Array, nH: number, hd: number, n: number, toHf: boolean): Float32Array {
  const out = new Float32Array(w.length), half = hd / 2;
  for (let h = 0; h < nH; h++)
    for (let s = 0; s < 2; s++)
      for (let i = 0; i < half; i++) {
        const hfRow = h * hd + s * half + i, l2cRow = h * hd + 2 * i + s;
        const [dst, src] = toHf ? [hfRow, l2cRow] : [l2cRow, hfRow];
        out.set(w.subarray(src * n, (src + 1) * n), dst * n);
      }
  return out;
}

/**
 * Load a llama2.c checkpoint: header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
 * seq_len; a negative vocab_size means a separate classifier), then fp32 weights in run.c order.
 * Tokenizer: tokenizer.json beside the .bin if present, else bytes.
 */
export function loadLlama2c(path: string): LoadedModel {
  const buf = readFileSync(path);
  if (buf.byteLength < 28) throw new ModelError(`${path}: shorter than the 28-byte llama2.c header`);
  const hdr = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = Array.from(hdr) as [number, number, number, number, number, number, number];
  const config: Config = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocabRaw), maxSeqLen: seqLen, ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: vocabRaw > 0 };
  const hd = dim / nHeads, kvDim = nKvHeads * hd, V = config.vocabSize, L = nLayers;
  const floats = (buf.byteLength - 28) / 4;
  const expected = V * dim + L * (dim + dim * dim + 2 * dim * kvDim + dim * dim + dim + 3 * dim * hiddenDim) + dim + seqLen * hd + (vocabRaw < 0 ? V * dim : 0);
  if (!Number.isInteger(floats) || floats !== expected) throw new ModelError(`${path}: ${floats} floats after the header, the header implies ${expected}`);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.byteLength));
  let off = 0;
  const next = (n: number) => data.subarray(off, (off += n));
  const perLayer = (n: number) => Array.from({ length: L }, () => next(n));
  const embed = next(V * dim);
  const rmsAtt = perLayer(dim), wq = perLayer(dim * dim), wk = perLayer(kvDim * dim), wv = perLayer(kvDim * dim), wo = perLayer(dim * dim);
  const rmsFfn = perLayer(dim), w1 = perLayer(hiddenDim * dim), w2 = perLayer(dim * hiddenDim), w3 = perLayer(hiddenDim * dim);
  const norm = next(dim);
  next(seqLen * hd); // freq_cis_real and freq_cis_imag (seq_len · hd/2 each), unused: we compute RoPE
  const lmHead = vocabRaw < 0 ? next(V * dim) : embed;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++)
    layers.push({
      input_layernorm: rmsAtt[l]!, q_proj: permuteRows(wq[l]!, nHeads, hd, dim, true), k_proj: permuteRows(wk[l]!, nKvHeads, hd, dim, true), v_proj: wv[l]!, o_proj: wo[l]!,
      post_attention_layernorm: rmsFfn[l]!, gate_proj: w1[l]!, down_proj: w2[l]!, up_proj: w3[l]!,
    });
  const model = createModel(config, placeWeights({ embed_tokens: embed, layers, norm, lm_head: lmHead }, config, basename(path)), basename(path, ".bin"));
  return { model, tokenizer: loadTokenizer(dirname(path), V) };
}

/** Write a model as a llama2.c .bin (v0 format), the inverse of loadLlama2c. */
export function saveLlama2c(path: string, m: Model): void {
  const c = m.config, w = m.weights, hd = c.dim / c.nHeads;
  const parts: Float32Array[] = [w.embed_tokens];
  const each = (f: (lw: LayerWeights) => Float32Array) => w.layers.forEach((lw) => parts.push(f(lw)));
  each((lw) => lw.input_layernorm);
  each((lw) => permuteRows(lw.q_proj, c.nHeads, hd, c.dim, false));
  each((lw) => permuteRows(lw.k_proj, c.nKvHeads, hd, c.dim, false));
  each((lw) => lw.v_proj);
  each((lw) => lw.o_proj);
  each((lw) => lw.post_attention_layernorm);
  each((lw) => lw.gate_proj);
  each((lw) => lw.down_proj);
  each((lw) => lw.up_proj);
  parts.push(w.norm, new Float32Array(c.maxSeqLen * hd));
  if (!c.tieEmbeddings) parts.push(w.lm_head);
  const hdr = new Int32Array([c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.tieEmbeddings ? c.vocabSize : -c.vocabSize, c.maxSeqLen]);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, Buffer.concat([Buffer.from(hdr.buffer), ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))]));
}
