import { z } from "zod";
import { Bytes32Hex } from "../datanets/model.ts";

/**
 * The base models a job may fine-tune. Each lives in the blob store under
 * `prefix` in Hugging Face layout (config.json, model.safetensors,
 * tokenizer.json); `sha256` of model.safetensors is what the attribution
 * fingerprint binds as the base-model hash.
 */
export const BaseModel = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    /** Trainable parameters of the base model. */
    parameters: z.number().int(),
    /** SPDX id of the weights' license. */
    license: z.string(),
    /** Longest sequence in tokens. */
    contextLength: z.number().int(),
    /** Width of the residual stream: a LoRA rank above it adds nothing. */
    hiddenSize: z.number().int(),
    /** Blob prefix of the model files. */
    prefix: z.string(),
    /** 0x sha256 of model.safetensors. */
    sha256: Bytes32Hex,
  })
  .meta({ id: "BaseModel" });
export type BaseModel = z.infer<typeof BaseModel>;

/** The files a base model consists of (HF layout), copied as they are. */
export const BASE_MODEL_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"] as const;

const CATALOG: readonly BaseModel[] = [
  {
    id: "mf-tiny-sotu",
    name: "Model Factory tiny SOTU",
    description:
      "A tiny Llama-architecture model (dim 96, 4 layers, GQA 4/2, SwiGLU, byte-level BPE of 512 tokens) pretrained on State of the Union addresses 1934–2021. A toy that writes English; it fine-tunes in minutes on a CPU.",
    parameters: 455_520,
    license: "CC0-1.0",
    contextLength: 128,
    hiddenSize: 96,
    prefix: "base-models/mf-tiny-sotu/",
    // sha256 of containers/engine/base-model/model.safetensors (base-models.test.ts checks it).
    sha256: "0xc96b4cba89fb3fa33ecffed3514bf1b9a69d671e25bb847fcf8ac9d5ead46f67",
  },
];

/**
 * How a base model's tokenizer counts a record's training text against the ingest's counts
 * (GPT-2 style pre-tokens, core/ingest/token-count.ts): `perIngestToken` model tokens per
 * pre-token of the record's words, plus `perRecord` tokens of the instruction prompt template
 * ("### Instruction:\n…### Response:\n", containers/trainer/records.ts; a text record has
 * none, so a text Datanet's estimate is high by that). The recipe estimates a run's steps from
 * it before the trainer tokenizes anything (core/jobs/recipe.ts).
 */
export interface TokenizerCost {
  perIngestToken: number;
  perRecord: number;
}

// mf-tiny-sotu's 512-token BPE, measured on instruction Datanets: 2.66–2.93 model tokens per
// pre-token (the demo's 40 capitals 2.80, the planted-facts sets 2.66–2.93: made-up names
// split into more pieces) and 21 template tokens per record.
const TOKENIZER_COST: Readonly<Record<string, TokenizerCost>> = { "mf-tiny-sotu": { perIngestToken: 2.8, perRecord: 21 } };

/** The tokenizer cost of a base model; one that has none measured counts as the ingest does (a lower bound). */
export function tokenizerCost(id: string): TokenizerCost {
  // own keys only: an id such as "constructor" would otherwise find Object.prototype's, and every count would be NaN
  return { ...(Object.hasOwn(TOKENIZER_COST, id) ? TOKENIZER_COST[id]! : { perIngestToken: 1, perRecord: 0 }) };
}

/** Every base model jobs may use. */
export function listBaseModels(): BaseModel[] {
  return CATALOG.map((m) => ({ ...m }));
}

/** The catalog entry of a base model, or undefined. */
export function getBaseModel(id: string): BaseModel | undefined {
  const model = CATALOG.find((m) => m.id === id);
  return model ? { ...model } : undefined;
}
