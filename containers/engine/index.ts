// The engine's public face: what the trainer (containers/trainer) and the inference service
// (containers/inference) call. Everything else is internal.
export { type Config, type Model, type Weights, type KvCache, type RunState, type Row, createModel, createKvCache, createRunState, forward, randomWeights, ModelError } from "./model.ts";
export { loadHfModel, saveHfModel, loadLlama2c, saveLlama2c, loadTokenizer, type LoadedModel } from "./checkpoint.ts";
export { type Tokenizer, byteTokenizer, hfTokenizer } from "./tokenizer.ts";
export { TARGETS, type Target, type LoraConfig, type LoraAdapter, createLora, mergeLora, unmergeLora, loraBytes, LoraError } from "./lora.ts";
export { saveAdapter, loadAdapter, serializeAdapter, parseAdapter, peftConfig } from "./peft.ts";
export { packDocuments, packRecords, type Sequence, type TokenizedRecord } from "./packing.ts";
export { train, evaluate, DEFAULT_TRAIN, TrainError, type TrainConfig, type TrainEvent, type TrainResult } from "./train.ts";
export { forwardTrain, backward, createGrads, paramList, type Grads } from "./train-graph.ts";
export { generate } from "./generate.ts";
export { BatchScheduler, DEFAULT_GENERATE, type GenerateOptions, type GenerateResult, type SchedulerOptions } from "./scheduler.ts";
export { AdapterCache, AdapterCacheError, type AdapterCacheOptions, type AdapterLease } from "./adapter-cache.ts";
export { readSafetensors, writeSafetensors, SafetensorsError } from "./safetensors.ts";

import { fileURLToPath } from "node:url";
/** Directory of the committed tiny base model (HF layout). */
export const BASE_MODEL_DIR = fileURLToPath(new URL("./base-model", import.meta.url));
