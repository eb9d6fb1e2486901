// Prometheus metrics of the inference service (prom-client, one registry per app). Per-model
// series (`model` = adapter or base id) are what vLLM and LoRAX users ask for; the label's
// cardinality is bounded by `maxModelSeries`, past which new models count under "other".
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { BackendEvents, GenerationBackend } from "./backend.ts";
import type { Admission } from "./admission.ts";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class InferenceMetrics implements BackendEvents {
  readonly registry = new Registry();
  readonly requests: Counter<"model" | "route" | "status">;
  readonly promptTokens: Counter<"model">;
  readonly completionTokens: Counter<"model">;
  readonly ttft: Histogram<"model">;
  readonly itl: Histogram<"model">;
  readonly rows: Histogram;
  readonly loads: Histogram<"tier">;
  readonly evictions: Counter;
  readonly #models = new Set<string>();
  readonly #maxModelSeries: number;

  constructor(opts: { maxModelSeries?: number; defaultMetrics?: boolean } = {}) {
    this.#maxModelSeries = opts.maxModelSeries ?? 2000;
    const registers = [this.registry];
    this.requests = new Counter({ name: "openlora_requests_total", help: "Completed OpenAI calls by model, route and HTTP status", labelNames: ["model", "route", "status"], registers });
    this.promptTokens = new Counter({ name: "openlora_prompt_tokens_total", help: "Prompt tokens processed", labelNames: ["model"], registers });
    this.completionTokens = new Counter({ name: "openlora_completion_tokens_total", help: "Completion tokens generated", labelNames: ["model"], registers });
    this.ttft = new Histogram({ name: "openlora_time_to_first_token_seconds", help: "Time from arrival to the first generated token", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers });
    this.itl = new Histogram({ name: "openlora_inter_token_latency_seconds", help: "Time between consecutive generated tokens", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers });
    this.rows = new Histogram({ name: "openlora_batch_rows", help: "Rows (decode + prefill tokens) per batched forward step", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
    this.loads = new Histogram({ name: "openlora_adapter_load_seconds", help: "Cold adapter loads into memory, by the tier they came from", labelNames: ["tier"], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });
    this.evictions = new Counter({ name: "openlora_adapter_evictions_total", help: "Adapters evicted from memory under the byte budget", registers });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "openlora_process_" });
  }

  /** Gauges read at scrape time from the admission queue and the backend. */
  observe(admission: Admission, backend: GenerationBackend): void {
    const registers = [this.registry];
    new Gauge({ name: "openlora_queue_depth", help: "Calls waiting for a slot", registers, collect() { this.set(admission.queued); } });
    new Gauge({ name: "openlora_requests_running", help: "Calls generating now", registers, collect() { this.set(admission.running); } });
    new Gauge({ name: "openlora_adapters_resident", help: "Adapters in memory", registers, collect() { this.set(backend.stats().adaptersResident); } });
    new Gauge({ name: "openlora_adapters_loading", help: "Adapter loads in progress", registers, collect() { this.set(backend.stats().adaptersLoading); } });
    new Gauge({ name: "openlora_adapter_resident_bytes", help: "Bytes of adapter weights in memory", registers, collect() { this.set(backend.stats().residentBytes); } });
    // cumulative counts the cache keeps; exported as counters by setting them at scrape time
    const lookups = new Counter({
      name: "openlora_adapter_cache_lookups_total",
      help: "Adapter lookups by the tier that answered: memory (hit), disk or blob (miss)",
      labelNames: ["tier"],
      registers,
      collect() {
        const c = backend.stats().cache;
        this.reset();
        this.inc({ tier: "memory" }, c.hits);
        this.inc({ tier: "disk" }, c.diskLoads);
        this.inc({ tier: "blob" }, c.blobLoads);
      },
    });
    void lookups;
  }

  /** The label for a model id, bounded in cardinality. */
  label(model: string): string {
    if (this.#models.has(model)) return model;
    if (this.#models.size >= this.#maxModelSeries) return "other";
    this.#models.add(model);
    return model;
  }

  adapterLoaded(tier: "disk" | "blob", seconds: number): void { this.loads.observe({ tier }, seconds); }
  adapterEvicted(): void { this.evictions.inc(); }
  batchRows(rows: number): void { this.rows.observe(rows); }
}
