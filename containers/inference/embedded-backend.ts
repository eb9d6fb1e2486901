// The embedded engine as a GenerationBackend: one base model in this process, a BatchScheduler
// that batches every running sequence (base and any mix of adapters) into each forward step,
// and an AdapterCache that makes an adapter resident just in time (memory ← disk ← blob store).
import { AdapterCache, AdapterCacheError, BatchScheduler, type AdapterCacheOptions, type LoadedModel, type LoraAdapter, type SchedulerOptions } from "../engine/index.ts";
import { drainReadReplies } from "../engine/adapter-decoder.ts";
import { setWaitHook } from "../engine/kernels/threads.ts";
import type { BackendBaseModel, BackendEvents, BackendStats, GenerationBackend, GenerationRequest, GenerationResult } from "./backend.ts";
import type { ServedModel } from "./hooks.ts";
import { contextLengthExceeded, invalidRequest, modelNotFound, unavailable } from "./errors.ts";

export interface EmbeddedBackendOptions {
  /** Id clients name the base model by (the catalog id, e.g. `mf-tiny-sotu`). */
  baseModelId: string;
  loaded: LoadedModel;
  /** Adapter cache settings; `model` is filled in from `loaded`; `onLoad` sees each cold load after the metrics do. */
  cache: Omit<AdapterCacheOptions, "model" | "onEvict">;
  scheduler?: Partial<SchedulerOptions>;
  events?: BackendEvents;
}

export class EmbeddedBackend implements GenerationBackend {
  readonly name = "embedded";
  readonly cache: AdapterCache;
  readonly scheduler: BatchScheduler;
  readonly #opts: EmbeddedBackendOptions;

  constructor(opts: EmbeddedBackendOptions) {
    this.#opts = opts;
    const events = opts.events;
    this.cache = new AdapterCache({
      // cold reads go to the decoder's worker while forward steps keep this thread busy (each
      // file operation of an async read would wait behind a step), and while other loads are in
      // flight (a burst of calls on an idle service: the first ones start the steps the rest
      // would wait behind); on an otherwise idle thread an async read is quicker
      decodeOnWorker: () => this.scheduler.running + this.scheduler.waiting > 0 || this.cache.loadingCount > 0,
      ...opts.cache,
      model: opts.loaded.model.config,
      onLoad: (id, ms, tier, trace) => {
        events?.adapterLoaded(tier, ms / 1000);
        opts.cache.onLoad?.(id, ms, tier, trace);
      },
      onEvict: () => events?.adapterEvicted(),
    });
    this.scheduler = new BatchScheduler(opts.loaded.model, opts.loaded.tokenizer, opts.scheduler);
    // a cold read the worker answered while this thread was busy between steps is settled
    // before the next step, so its call joins that step instead of waiting a whole turn
    this.scheduler.beforeStep = drainReadReplies;
    // and one that arrived during a step is settled right after it, before the HTTP work that
    // the loop's I/O phase does between steps
    this.scheduler.afterStep = drainReadReplies;
    // and inside a step, while this thread waits for a kernel worker's slice: the reply's files
    // are parsed in time that would otherwise be idle (the load completes right after the step)
    setWaitHook(drainReadReplies);
    if (events) {
      // The scheduler's pump calls this.step(); observing it here gives rows per forward step
      // without reaching into the engine.
      const step = this.scheduler.step.bind(this.scheduler);
      this.scheduler.step = () => {
        const rows = step();
        if (rows > 0) events.batchRows(rows);
        return rows;
      };
    }
  }

  baseModels(): BackendBaseModel[] {
    return [{ id: this.#opts.baseModelId, contextLength: this.#opts.loaded.model.config.maxSeqLen }];
  }

  async tokenize(baseModel: string, text: string): Promise<number[]> {
    if (baseModel !== this.#opts.baseModelId) throw modelNotFound(baseModel);
    const tok = this.#opts.loaded.tokenizer;
    const ids = tok.encode(text);
    return tok.bos !== null && ids[0] !== tok.bos ? [tok.bos, ...ids] : ids;
  }

  async generate(req: GenerationRequest): Promise<GenerationResult> {
    const { model } = req;
    if (model.baseModel !== this.#opts.baseModelId) {
      throw invalidRequest(`The adapter \`${model.id}\` was trained on \`${model.baseModel}\`; this service serves \`${this.#opts.baseModelId}\`.`, "model", "model_not_supported");
    }
    const ctx = this.#opts.loaded.model.config.maxSeqLen;
    if (req.promptTokenIds.length + req.maxTokens > ctx) {
      throw contextLengthExceeded(`This model's maximum context length is ${ctx} tokens. However, you requested ${req.promptTokenIds.length + req.maxTokens} tokens (${req.promptTokenIds.length} in the messages, ${req.maxTokens} in the completion).`);
    }
    let lease: { adapter: LoraAdapter; release(): void } | null = null;
    if (model.kind === "adapter") lease = await this.#acquireUnlessAborted(model.id, req.signal);
    try {
      if (req.signal.aborted) return { completionTokenIds: [], text: "", finishReason: "cancelled" };
      // the scheduler's run state is sized for ranks up to maxRank (as vLLM's --max-lora-rank):
      // a larger adapter is this request's error to hear about, not a 500 from the engine
      const maxRank = this.scheduler.opts.maxRank;
      if (lease && lease.adapter.config.r > maxRank) throw invalidRequest(`The adapter \`${model.id}\` has rank ${lease.adapter.config.r}; this service serves adapters of rank up to ${maxRank}.`, "model", "adapter_rank_too_large");
      // a client that goes away (or a timeout) aborts req.signal: the scheduler drops the
      // sequence at its next step, freeing its batch row and KV cache
      const result = await this.scheduler.submit(req.promptTokenIds, lease?.adapter ?? null, {
        maxTokens: req.maxTokens,
        temperature: req.temperature,
        topP: req.topP,
        seed: req.seed,
        stop: req.stop,
        signal: req.signal,
        onToken: () => req.onToken?.(),
        onText: (delta) => req.onText(delta),
      });
      return { completionTokenIds: result.tokens, text: result.text, finishReason: result.finishReason };
    } finally {
      lease?.release();
    }
  }

  prefetch(model: ServedModel): void {
    if (model.kind !== "adapter" || model.baseModel !== this.#opts.baseModelId) return;
    // resident (and most recently used) when its call is admitted, unless evicted meanwhile;
    // a failure is the call's to report when it runs
    this.cache.acquire(model.id).then((lease) => lease.release(), () => {});
  }

  // A cold load can outlast its call (a blob store that hangs): the call stops waiting when its
  // signal aborts (the timeout, the client gone) with the signal's reason, as a call still in
  // the admission queue does, and a lease that comes after that is given straight back.
  async #acquireUnlessAborted(id: string, signal: AbortSignal) {
    const acquiring = this.#acquire(id);
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([acquiring, aborted]);
    } catch (e) {
      if (signal.aborted) acquiring.then((lease) => lease.release(), () => {});
      throw e;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async #acquire(id: string) {
    try {
      return await this.cache.acquire(id);
    } catch (e) {
      if (!(e instanceof AdapterCacheError)) throw e;
      if (e.code === "adapter_not_found" || e.code === "invalid_adapter_id") throw unavailable(`The adapter \`${id}\` has no files in the blob store.`, "adapter_unavailable");
      if (e.code === "adapter_too_large") throw invalidRequest(e.message, "model", "adapter_too_large");
      throw unavailable(e.code === "adapter_corrupt" ? `The adapter \`${id}\` cannot be loaded: its files are not a usable LoRA for this model.` : `The adapter \`${id}\` cannot be loaded right now; try again shortly.`, e.code);
    }
  }

  async ready() {
    return { ready: true as const };
  }

  stats(): BackendStats {
    const m = this.cache.metrics;
    return {
      adaptersResident: this.cache.residentCount,
      adaptersLoading: this.cache.loadingCount,
      residentBytes: this.cache.residentBytes,
      cache: { hits: m.hits, diskLoads: m.diskLoads, blobLoads: m.blobLoads, evictions: m.evictions },
    };
  }

  async close(): Promise<void> {}
}
