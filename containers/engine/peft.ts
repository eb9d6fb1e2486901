// PEFT layout for adapters: adapter_config.json + adapter_model.safetensors with PEFT's tensor
// names (base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight, ...), so the files
// load in PEFT, vLLM and LoRAX.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LoraError, TARGETS, checkLoraFits, validateLoraConfig, type LoraAdapter, type LoraPair, type Target } from "./lora.ts";
import type { Config } from "./model.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";

const MODULE_PATH: Record<Target, string> = {
  q_proj: "self_attn.q_proj", k_proj: "self_attn.k_proj", v_proj: "self_attn.v_proj", o_proj: "self_attn.o_proj",
  gate_proj: "mlp.gate_proj", up_proj: "mlp.up_proj", down_proj: "mlp.down_proj",
};

/** PEFT tensor name of one LoRA matrix. */
export function peftTensorName(layer: number, t: Target, which: "A" | "B"): string {
  return `base_model.model.model.layers.${layer}.${MODULE_PATH[t]}.lora_${which}.weight`;
}

/** adapter_config.json as PEFT writes it for a LoRA on a causal LM. */
export function peftConfig(a: LoraAdapter): Record<string, unknown> {
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: a.baseModel,
    r: a.config.r,
    lora_alpha: a.config.alpha,
    lora_dropout: a.config.dropout,
    target_modules: [...a.config.targets],
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_rslora: false,
    use_dora: false,
    revision: null,
  };
}

// a pair's matrix not read yet (one shared empty array: an allocation per placeholder costs more than the parse)
const NONE = new Float32Array(0);

/** Serialise an adapter to the two PEFT files' contents. */
export function serializeAdapter(a: LoraAdapter): { config: string; weights: Uint8Array } {
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  a.layers.forEach((layer, l) => {
    for (const [name, p] of Object.entries(layer) as [Target, LoraPair][]) {
      t.set(peftTensorName(l, name, "A"), { shape: [a.config.r, p.inDim], data: p.A });
      t.set(peftTensorName(l, name, "B"), { shape: [p.outDim, a.config.r], data: p.B });
    }
  });
  return { config: JSON.stringify(peftConfig(a), null, 2) + "\n", weights: writeSafetensors(t, { format: "pt" }) };
}

/**
 * Parse PEFT files into an adapter for a model of this config (shapes are checked).
 * `adopt`: `weights` is handed over (read for this parse and not used after), so the matrices
 * are views of it rather than copies (what a serving cold load wants: see readSafetensors).
 */
export function parseAdapter(id: string, configJson: string, weights: Uint8Array, model: Config, opts: { adopt?: boolean } = {}): LoraAdapter {
  if (!opts.adopt) return parseFully(id, configJson, weights, model, false);
  // a serving process loads thousands of adapters trained alike: the same config text and the
  // same safetensors header (names, shapes, offsets) give the same layout, which is checked once
  const header = headerText(weights);
  const key = header === null ? null : `${configJson}\u0000${header}`;
  const known = key === null ? undefined : layouts.get(model)?.get(key);
  if (known && weights.byteLength >= known.dataStart + known.dataEnd && (weights.byteOffset + known.dataStart) % 4 === 0) return fromLayout(id, known, weights);
  const adapter = parseFully(id, configJson, weights, model, true);
  if (key !== null) remember(model, key, adapter, weights);
  return adapter;
}

// --- layouts of adopted files parsed before (per model config, a few per model) ----------------
interface Layout {
  config: LoraAdapter["config"];
  scale: number;
  baseModel: string;
  nLayers: number;
  dataStart: number; // bytes before the data section (8 + header)
  dataEnd: number; // bytes of the data section the tensors reach
  // every pair in the order the full parse made them, its matrices' byte offsets in the data section
  pairs: Array<{ layer: number; target: Target; a: number; aLen: number; b: number; bLen: number; inDim: number; outDim: number }>;
}
const layouts = new WeakMap<Config, Map<string, Layout>>();
const MAX_LAYOUTS = 16; // per model: adapters of a few ranks and target sets
const LATIN1 = new TextDecoder("latin1");

// the header's bytes as text (a key, not parsed), or null when the file is too short to have one
function headerText(buf: Uint8Array): string | null {
  if (buf.byteLength < 8) return null;
  const n = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
  return n <= 1 << 20 && 8 + n <= buf.byteLength ? LATIN1.decode(buf.subarray(8, 8 + n)) : null;
}

// the layout of an adapter just parsed from `buf` whose matrices are all views of it
function remember(model: Config, key: string, a: LoraAdapter, buf: Uint8Array): void {
  const dataStart = 8 + Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true)), at = buf.byteOffset + dataStart;
  const pairs: Layout["pairs"] = [];
  let dataEnd = 0;
  for (const [layer, l] of a.layers.entries())
    for (const [target, p] of Object.entries(l) as [Target, LoraPair][]) {
      if (p.A.buffer !== buf.buffer || p.B.buffer !== buf.buffer) return; // copied (not aligned): nothing to reuse
      const e = { layer, target, a: p.A.byteOffset - at, aLen: p.A.length, b: p.B.byteOffset - at, bLen: p.B.length, inDim: p.inDim, outDim: p.outDim };
      dataEnd = Math.max(dataEnd, e.a + 4 * e.aLen, e.b + 4 * e.bLen);
      pairs.push(e);
    }
  let m = layouts.get(model);
  if (!m) layouts.set(model, (m = new Map()));
  if (m.size >= MAX_LAYOUTS) m.delete(m.keys().next().value!);
  m.set(key, { config: { ...a.config, targets: [...a.config.targets] }, scale: a.scale, baseModel: a.baseModel, nLayers: a.layers.length, dataStart, dataEnd, pairs });
}

// what parseFully gives for these bytes: views of them where the layout says
function fromLayout(id: string, k: Layout, buf: Uint8Array): LoraAdapter {
  const layers: LoraAdapter["layers"] = Array.from({ length: k.nLayers }, () => ({}));
  const at = buf.byteOffset + k.dataStart;
  for (const p of k.pairs) layers[p.layer]![p.target] = { A: new Float32Array(buf.buffer, at + p.a, p.aLen), B: new Float32Array(buf.buffer, at + p.b, p.bLen), inDim: p.inDim, outDim: p.outDim };
  return { id, config: { ...k.config, targets: [...k.config.targets] }, scale: k.scale, layers, baseModel: k.baseModel };
}

function parseFully(id: string, configJson: string, weights: Uint8Array, model: Config, adopt: boolean): LoraAdapter {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(configJson) as Record<string, unknown>;
  } catch {
    throw new LoraError(`adapter ${id}: adapter_config.json is not valid JSON`);
  }
  if (j.peft_type !== "LORA") throw new LoraError(`adapter ${id}: peft_type ${String(j.peft_type)} is not LORA`);
  if (j.fan_in_fan_out) throw new LoraError(`adapter ${id}: fan_in_fan_out adapters are not supported`);
  if (j.use_dora) throw new LoraError(`adapter ${id}: DoRA adapters are not supported`);
  for (const k of ["rank_pattern", "alpha_pattern"]) if (j[k] && Object.keys(j[k] as object).length) throw new LoraError(`adapter ${id}: ${k} is not supported`);
  if (!Array.isArray(j.target_modules)) throw new LoraError(`adapter ${id}: target_modules must be a list of module names`);
  const targets = (j.target_modules as string[]).filter((t) => t !== "lm_head") as Target[];
  const config = { r: Number(j.r), alpha: Number(j.lora_alpha), dropout: Number(j.lora_dropout ?? 0), targets };
  validateLoraConfig(config);
  const { tensors } = readSafetensors(weights, { adopt });
  const layers: LoraAdapter["layers"] = Array.from({ length: model.nLayers }, () => ({}));
  let found = 0;
  for (const [name, ten] of tensors) {
    const m = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$/.exec(name);
    if (!m) throw new LoraError(`adapter ${id}: unexpected tensor ${name}`);
    const l = Number(m[1]), t = m[3] as Target, which = m[4] as "A" | "B";
    if (!TARGETS.includes(t) || !targets.includes(t)) throw new LoraError(`adapter ${id}: tensor ${name} is not among target_modules`);
    if (l >= model.nLayers) throw new LoraError(`adapter ${id}: layer ${l} beyond the model's ${model.nLayers}`);
    const pair = (layers[l]![t] ??= { A: NONE, B: NONE, inDim: 0, outDim: 0 });
    if (which === "A") { pair.A = ten.data; pair.inDim = ten.shape[1] ?? 0; if (ten.shape[0] !== config.r) throw new LoraError(`adapter ${id}: ${name} has rank ${ten.shape[0]}, config r=${config.r}`); }
    else { pair.B = ten.data; pair.outDim = ten.shape[0] ?? 0; }
    found++;
  }
  for (const layer of layers) for (const [t, p] of Object.entries(layer)) if (!p.A.length || !p.B.length) throw new LoraError(`adapter ${id}: ${t} lacks lora_A or lora_B`);
  if (found === 0) throw new LoraError(`adapter ${id}: no LoRA tensors`);
  const scale = j.use_rslora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
  const adapter: LoraAdapter = { id, config, scale, layers, baseModel: String(j.base_model_name_or_path ?? "") };
  checkLoraFits(model, adapter);
  return adapter;
}

/** Write adapter_config.json and adapter_model.safetensors into dir. */
export function saveAdapter(dir: string, a: LoraAdapter): void {
  mkdirSync(dir, { recursive: true });
  const { config, weights } = serializeAdapter(a);
  writeFileSync(join(dir, "adapter_model.safetensors"), weights);
  writeFileSync(join(dir, "adapter_config.json"), config);
}

/** Read a PEFT adapter directory for a model of this config. */
export function loadAdapter(dir: string, model: Config, id = dir): LoraAdapter {
  return parseAdapter(id, readFileSync(join(dir, "adapter_config.json"), "utf8"), readFileSync(join(dir, "adapter_model.safetensors")), model);
}
