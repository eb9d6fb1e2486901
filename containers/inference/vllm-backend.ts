// vLLM as a GenerationBackend: the gateway on the GPU task. vLLM runs the base model with
// `--enable-lora --max-loras N --max-cpu-loras M --max-lora-rank R` and
// VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; this backend stages an adapter's PEFT files from the
// blob store to the task's disk, loads it with POST /v1/load_lora_adapter, unloads the least
// recently used idle one with POST /v1/unload_lora_adapter when `maxLoras` are loaded (the same
// policy as the embedded AdapterCache: LRU, pinned while in use, one load per adapter at a
// time), and streams /v1/completions back. Endpoints used, as vLLM documents them:
//   GET  /health                                   200 when the engine is up
//   POST /tokenize {model, prompt}               → {tokens, count, max_model_len}
//   POST /v1/completions {model, prompt: ids, …, stream: true, stream_options, return_token_ids}
//   POST /v1/load_lora_adapter {lora_name, lora_path};  POST /v1/unload_lora_adapter {lora_name}
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { createParser } from "eventsource-parser";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { BackendBaseModel, BackendEvents, BackendStats, GenerationBackend, GenerationRequest, GenerationResult } from "./backend.ts";
import { contextLengthExceeded, InferenceError, invalidRequest, modelNotFound, unavailable } from "./errors.ts";

export interface VllmBackendOptions {
  /** vLLM's OpenAI server, e.g. http://127.0.0.1:8000 */
  url: string;
  /** Id clients name the base model by; vLLM serves it as `servedModelName` (default the same). */
  baseModelId: string;
  servedModelName?: string;
  /** Context length when vLLM does not report max_model_len (default 4096). */
  contextLength?: number;
  /** Where adapters are staged on the task's disk (vLLM reads lora_path from here). */
  adapterDir: string;
  /** Adapters loaded into vLLM at once (its --max-cpu-loras). */
  maxLoras: number;
  blobs: Pick<BlobStore, "get">;
  /** Blob keys of an adapter's files; undefined = unknown adapter. */
  blobKeys: (id: string) => Promise<{ config: string; weights: string } | undefined>;
  events?: BackendEvents;
  fetch?: typeof fetch;
}

interface Resident { pins: number; loaded: Promise<void> }

export class VllmBackend implements GenerationBackend {
  readonly name = "vllm";
  readonly #o: Required<Omit<VllmBackendOptions, "events">> & { events?: BackendEvents };
  // insertion order = LRU order (oldest first)
  readonly #resident = new Map<string, Resident>();
  readonly #waiters: Array<() => void> = [];
  readonly #stats = { hits: 0, diskLoads: 0, blobLoads: 0, evictions: 0 };
  #contextLength: number | null = null;

  constructor(o: VllmBackendOptions) {
    this.#o = { servedModelName: o.baseModelId, contextLength: 4096, fetch: globalThis.fetch, ...o };
  }

  baseModels(): BackendBaseModel[] {
    return [{ id: this.#o.baseModelId, contextLength: this.#contextLength ?? this.#o.contextLength }];
  }

  async tokenize(baseModel: string, text: string): Promise<number[]> {
    if (baseModel !== this.#o.baseModelId) throw modelNotFound(baseModel);
    const r = (await this.#post("/tokenize", { model: this.#o.servedModelName, prompt: text })) as { tokens: number[]; max_model_len?: number };
    if (typeof r.max_model_len === "number") this.#contextLength = r.max_model_len;
    return r.tokens;
  }

  async generate(req: GenerationRequest): Promise<GenerationResult> {
    if (req.model.baseModel !== this.#o.baseModelId) throw invalidRequest(`The adapter \`${req.model.id}\` was trained on \`${req.model.baseModel}\`; this service serves \`${this.#o.baseModelId}\`.`, "model", "model_not_supported");
    const ctx = this.baseModels()[0]!.contextLength;
    if (req.promptTokenIds.length + req.maxTokens > ctx) throw contextLengthExceeded(`This model's maximum context length is ${ctx} tokens. However, you requested ${req.promptTokenIds.length + req.maxTokens} tokens.`);
    const release = req.model.kind === "adapter" ? await this.#acquire(req.model.id) : () => {};
    try {
      return await this.#complete(req);
    } finally {
      release();
    }
  }

  async #complete(req: GenerationRequest): Promise<GenerationResult> {
    const body = {
      model: req.model.kind === "adapter" ? req.model.id : this.#o.servedModelName,
      prompt: req.promptTokenIds,
      max_tokens: req.maxTokens,
      temperature: req.temperature,
      top_p: req.topP,
      seed: req.seed,
      stop: req.stop,
      stream: true,
      stream_options: { include_usage: true },
      return_token_ids: true,
    };
    let res: Response;
    try {
      res = await this.#o.fetch(`${this.#o.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: req.signal });
    } catch (e) {
      if (req.signal.aborted) return { completionTokenIds: [], text: "", finishReason: "cancelled" };
      throw unavailable(`The model server is unreachable: ${(e as Error).message}`, "backend_unavailable");
    }
    if (!res.ok) throw await vllmError(res);
    const ids: number[] = [];
    let text = "";
    let finish: GenerationResult["finishReason"] | null = null;
    let streamError: InferenceError | null = null;
    const parser = createParser({
      onEvent: (ev) => {
        if (ev.data === "[DONE]") return;
        const chunk = JSON.parse(ev.data) as { error?: { message: string }; choices?: Array<{ text?: string; token_ids?: number[]; finish_reason?: string | null }> };
        if (chunk.error) {
          streamError = unavailable(`The model server failed: ${chunk.error.message}`, "backend_error");
          return;
        }
        for (const c of chunk.choices ?? []) {
          // vLLM sends token_ids when asked (return_token_ids); without them a text chunk is one token's worth of timing
          if (c.token_ids) for (const _ of c.token_ids) req.onToken?.();
          else if (c.text) req.onToken?.();
          ids.push(...(c.token_ids ?? []));
          if (c.text) {
            text += c.text;
            req.onText(c.text);
          }
          if (c.finish_reason) finish = c.finish_reason === "length" ? "length" : "stop";
        }
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(part, { stream: true }));
    } catch (e) {
      if (req.signal.aborted) return { completionTokenIds: ids, text, finishReason: "cancelled" };
      throw unavailable(`The model server's stream broke: ${(e as Error).message}`, "backend_unavailable");
    }
    if (streamError) throw streamError;
    if (req.signal.aborted) return { completionTokenIds: ids, text, finishReason: "cancelled" };
    // a vLLM without return_token_ids: the ids of the text as its tokenizer reads it, so usage and hooks still count
    if (ids.length === 0 && text) {
      const r = (await this.#post("/tokenize", { model: this.#o.servedModelName, prompt: text, add_special_tokens: false })) as { tokens: number[] };
      ids.push(...r.tokens);
    }
    return { completionTokenIds: ids, text, finishReason: finish ?? "stop" };
  }

  // pin an adapter loaded into vLLM, staging and loading it on a miss
  async #acquire(id: string): Promise<() => void> {
    for (;;) {
      const r = this.#resident.get(id);
      if (r) {
        r.pins++;
        try {
          await r.loaded;
        } catch (e) {
          r.pins--;
          throw e;
        }
        this.#stats.hits++;
        this.#resident.delete(id); // most recently used
        this.#resident.set(id, r);
        return this.#releaser(r);
      }
      if (this.#resident.size >= this.#o.maxLoras && !(await this.#evictOne())) {
        await new Promise<void>((w) => this.#waiters.push(w)); // every loaded adapter is in use
        continue;
      }
      const entry: Resident = { pins: 0, loaded: this.#load(id) };
      this.#resident.set(id, entry);
      entry.loaded.catch(() => this.#resident.get(id) === entry && this.#resident.delete(id));
    }
  }

  #releaser(r: Resident): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      r.pins--;
      for (const w of this.#waiters.splice(0)) w();
    };
  }

  async #evictOne(): Promise<boolean> {
    for (const [id, r] of this.#resident) {
      if (r.pins > 0) continue;
      this.#resident.delete(id);
      this.#stats.evictions++;
      this.#o.events?.adapterEvicted();
      await r.loaded.catch(() => {});
      await this.#post("/v1/unload_lora_adapter", { lora_name: id }).catch(() => {}); // already gone is fine
      return true;
    }
    return false;
  }

  async #load(id: string): Promise<void> {
    const t0 = performance.now();
    const keys = await this.#o.blobKeys(id);
    if (!keys) throw unavailable(`The adapter \`${id}\` has no files in the blob store.`, "adapter_unavailable");
    let cfg: Readable | undefined, w: Readable | undefined;
    try {
      [cfg, w] = await Promise.all([this.#o.blobs.get(keys.config), this.#o.blobs.get(keys.weights)]);
    } catch (e) {
      throw unavailable(`The adapter \`${id}\` cannot be fetched right now: ${(e as Error).message}`, "adapter_unavailable");
    }
    if (!cfg || !w) throw unavailable(`The adapter \`${id}\` has no files in the blob store.`, "adapter_unavailable");
    const [config, weights] = await Promise.all([readAll(cfg), readAll(w)]);
    checkPeftFiles(id, config, weights);
    const dir = join(this.#o.adapterDir, id);
    await mkdir(dir, { recursive: true });
    for (const [name, bytes] of [["adapter_model.safetensors", weights], ["adapter_config.json", config]] as const) {
      await writeFile(join(dir, name + ".tmp"), bytes);
      await rename(join(dir, name + ".tmp"), join(dir, name));
    }
    this.#stats.blobLoads++;
    await this.#post("/v1/load_lora_adapter", { lora_name: id, lora_path: dir });
    this.#o.events?.adapterLoaded("blob", (performance.now() - t0) / 1000);
  }

  async #post(path: string, body: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await this.#o.fetch(`${this.#o.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    } catch (e) {
      throw unavailable(`The model server is unreachable: ${(e as Error).message}`, "backend_unavailable");
    }
    if (!res.ok) throw await vllmError(res);
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      return text; // load/unload answer plain text
    }
  }

  async ready() {
    try {
      const res = await this.#o.fetch(`${this.#o.url}/health`);
      return res.ok ? { ready: true as const } : { ready: false as const, reason: `vLLM /health answered ${res.status}` };
    } catch (e) {
      return { ready: false as const, reason: `vLLM is unreachable: ${(e as Error).message}` };
    }
  }

  stats(): BackendStats {
    return { adaptersResident: this.#resident.size, adaptersLoading: 0, residentBytes: 0, cache: { ...this.#stats } };
  }

  async close(): Promise<void> {}
}

// vLLM answers errors in OpenAI's shape (or FastAPI's {detail}); keep 400s as 400s, the rest are 503
async function vllmError(res: Response): Promise<InferenceError> {
  const text = await res.text().catch(() => "");
  let message = text.slice(0, 500);
  try {
    const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string; detail?: unknown };
    message = (typeof j.error === "object" ? j.error.message : j.error) ?? j.message ?? JSON.stringify(j.detail ?? j);
  } catch {
    // plain text
  }
  if (res.status === 400) return invalidRequest(`The model server refused the request: ${message}`);
  if (res.status === 404) return unavailable(`The model server does not know this model: ${message}`, "adapter_unavailable");
  return unavailable(`The model server failed (${res.status}): ${message}`, "backend_error");
}

// a cheap check before vLLM sees the files: a JSON LoRA config and a safetensors header
function checkPeftFiles(id: string, config: Uint8Array, weights: Uint8Array): void {
  const corrupt = (why: string) => unavailable(`The adapter \`${id}\` cannot be loaded: ${why}.`, "adapter_corrupt");
  let cfg: { peft_type?: unknown };
  try {
    cfg = JSON.parse(new TextDecoder().decode(config)) as { peft_type?: unknown };
  } catch {
    throw corrupt("adapter_config.json is not JSON");
  }
  if (cfg.peft_type !== "LORA") throw corrupt("adapter_config.json is not a LoRA config");
  if (weights.byteLength < 8) throw corrupt("adapter_model.safetensors is truncated");
  const headerLen = Number(new DataView(weights.buffer, weights.byteOffset, 8).getBigUint64(0, true));
  if (headerLen <= 0 || 8 + headerLen > weights.byteLength) throw corrupt("adapter_model.safetensors has no valid header");
  try {
    JSON.parse(new TextDecoder().decode(weights.subarray(8, 8 + headerLen)));
  } catch {
    throw corrupt("adapter_model.safetensors has no valid header");
  }
}

async function readAll(r: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return new Uint8Array(Buffer.concat(chunks));
}
