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
  const { tensors } = readSafetensors(weights, { adopt: opts.adopt === true });
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
