// The GenerationBackend port: what the OpenAI routes need from whatever runs the model.
// Two implementations: the embedded engine (embedded-backend.ts: BatchScheduler + AdapterCache;
// local runtime and CI) and vLLM over HTTP (vllm-backend.ts: the GPU task on ECS).
import type { ServedModel } from "./hooks.ts";

/** A base model the backend serves. */
export interface BackendBaseModel {
  id: string;
  /** Longest sequence (prompt + completion) in tokens. */
  contextLength: number;
}

/** One generation: the prompt is already rendered (chat template applied). */
export interface GenerationRequest {
  model: ServedModel;
  /** Token ids of the prompt (from `tokenize`), BOS included. */
  promptTokenIds: number[];
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  /** Generation ends before the first of these in the output. */
  stop: string[];
  /** Aborted when the client goes away or the request times out: the sequence is freed. */
  signal: AbortSignal;
  /** Streaming: text as it becomes final (never revised). */
  onText(delta: string): void;
  /** Called for every sampled token (timing: first-token and inter-token latency). */
  onToken?(): void;
}

export interface GenerationResult {
  completionTokenIds: number[];
  text: string;
  /** `cancelled` when the signal ended it. */
  finishReason: "stop" | "length" | "cancelled";
}

/** What the metrics exporter reads from a backend at scrape time. */
export interface BackendStats {
  adaptersResident: number;
  adaptersLoading: number;
  residentBytes: number;
  cache: { hits: number; diskLoads: number; blobLoads: number; evictions: number };
}

/** Observers a backend reports to (metrics.ts implements them). */
export interface BackendEvents {
  adapterLoaded(tier: "disk" | "blob", seconds: number): void;
  adapterEvicted(): void;
  /** Rows of one batched forward step. */
  batchRows(rows: number): void;
}

/**
 * Runs generations for base models and adapters over them. Errors it throws are
 * `InferenceError`s (errors.ts): 503 for an adapter it cannot make resident, 400 for a prompt
 * the model cannot take.
 */
export interface GenerationBackend {
  readonly name: string;
  baseModels(): BackendBaseModel[];
  /** Prompt text → token ids as the model sees them (BOS prepended where the model has one). */
  tokenize(baseModel: string, text: string): Promise<number[]>;
  generate(request: GenerationRequest): Promise<GenerationResult>;
  /**
   * Start making `model` resident without using it (optional): called while a call for it
   * waits in the admission queue, so its cold load overlaps the wait. Never throws.
   */
  prefetch?(model: ServedModel): void;
  /** Ready to serve (model loaded, engine reachable); the reason when not. */
  ready(): Promise<{ ready: true } | { ready: false; reason: string }>;
  stats(): BackendStats;
  close(): Promise<void>;
}
