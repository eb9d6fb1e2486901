// Continuous batching over mixed adapters. Each decode step gathers one row per running
// sequence (or a chunk of prompt rows while it prefills), runs ONE batched forward in which
// every base matmul serves all rows and each row adds its own adapter's delta, then samples
// each sequence's next token. Sequences join and leave between steps.
import { createKvCache, createRunState, forward, ModelError, projectionsOf, type KvCache, type Model, type Row, type RunState } from "./model.ts";
import type { LoraAdapter } from "./lora.ts";
import { holdResident, releaseResident } from "./resident-adapters.ts";
import { Sampler } from "./sampler.ts";
import type { Tokenizer } from "./tokenizer.ts";

export interface GenerateOptions {
  maxTokens: number; // tokens to generate at most
  temperature: number; // 0 = greedy
  topP: number; // nucleus mass, 1 = off
  seed: number; // sampling seed
  stop: string[]; // generation ends before the first of these in the output text
  onText?: (delta: string) => void; // streaming: text as it becomes final
  onToken?: (id: number) => void; // streaming: every sampled token id
  // cancel: once aborted, the sequence leaves at the next step (its KV cache and batch row are
  // freed) and resolves with finishReason "cancelled" and what it had generated so far
  signal?: AbortSignal;
}

export const DEFAULT_GENERATE: GenerateOptions = { maxTokens: 64, temperature: 0, topP: 1, seed: 0, stop: [] };

export interface GenerateResult {
  text: string;
  tokens: number[]; // generated ids (stop sequence and EOS excluded from text, not from ids)
  promptTokens: number;
  finishReason: "stop" | "length" | "cancelled";
}

interface Seq {
  prompt: number[];
  fed: number; // prompt tokens already in the KV cache
  pos: number; // next position to write
  last: number; // last sampled token, fed next step
  out: number[];
  text: string;
  emitted: number; // characters of text already streamed
  kv: KvCache;
  adapter: LoraAdapter | null;
  sampler: Sampler;
  opts: GenerateOptions;
  resolve: (r: GenerateResult) => void;
  reject: (e: Error) => void;
  unlisten: () => void; // detach from opts.signal
}

export interface SchedulerOptions {
  maxBatch: number; // rows per forward step (decode rows + prefill rows)
  maxSequences: number; // sequences running at once (each holds a KV cache)
  prefillChunk: number; // prompt tokens a sequence feeds per step while prefilling
  maxRank: number; // largest adapter rank accepted
  // make an adapter that nothing else made resident resident in the kernel heap while its
  // sequences run (resident-adapters.ts); false: the kernels copy it in per call, as before
  residentAdapters: boolean;
}

/** Continuous-batching scheduler for one base model; submit() requests from anywhere. */
export class BatchScheduler {
  readonly model: Model;
  readonly tokenizer: Tokenizer;
  readonly opts: SchedulerOptions;
  #state: RunState;
  #free: KvCache[] = [];
  #running: Seq[] = [];
  #waiting: Seq[] = [];
  #pumping = false;
  steps = 0; // forward steps run
  rowsRun = 0; // rows processed (throughput accounting)
  // Runs in a turn of its own right before each step the pump runs, so that what it settles
  // (the serving backend: adapter loads whose replies arrived while this thread was busy) is
  // submitted in the microtasks after it and joins that very step rather than the next.
  beforeStep: (() => void) | null = null;
  // Runs right after each step the pump runs, in the same turn: what it settles (adapter loads
  // whose replies arrived during the step) continues in the microtasks after it, before the
  // loop's I/O callbacks of that turn (the HTTP work between steps), instead of after them.
  afterStep: (() => void) | null = null;

  constructor(model: Model, tokenizer: Tokenizer, opts: Partial<SchedulerOptions> = {}) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.opts = { maxBatch: 64, maxSequences: 64, prefillChunk: 16, maxRank: 64, residentAdapters: true, ...opts };
    this.#state = createRunState(model.config, this.opts.maxBatch, this.opts.maxRank);
  }

  get running(): number { return this.#running.length; }
  get waiting(): number { return this.#waiting.length; }

  /** Queue a prompt (token ids) with its adapter (or null); resolves when it finishes. */
  submit(prompt: number[], adapter: LoraAdapter | null, options: Partial<GenerateOptions> = {}, autoRun = true): Promise<GenerateResult> {
    const opts = { ...DEFAULT_GENERATE, ...options };
    const c = this.model.config;
    if (prompt.length === 0) return Promise.reject(new ModelError("prompt is empty"));
    if (prompt.length >= c.maxSeqLen) return Promise.reject(new ModelError(`prompt of ${prompt.length} tokens leaves no room in the context of ${c.maxSeqLen}`));
    if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 1) return Promise.reject(new RangeError(`maxTokens must be a positive integer, got ${opts.maxTokens}`));
    if (prompt.some((t) => !(Number.isInteger(t) && t >= 0 && t < c.vocabSize))) return Promise.reject(new ModelError("prompt has a token outside the vocabulary"));
    let sampler: Sampler;
    try {
      if (adapter) {
        projectionsOf(adapter, c); // LoraError unless it fits; checked once, and forward() finds it checked
        if (adapter.config.r > this.opts.maxRank) throw new ModelError(`adapter rank ${adapter.config.r} exceeds the scheduler's maxRank ${this.opts.maxRank}`);
      }
      sampler = new Sampler({ temperature: opts.temperature, topP: opts.topP, seed: opts.seed });
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (opts.signal?.aborted) return Promise.resolve({ text: "", tokens: [], promptTokens: prompt.length, finishReason: "cancelled" });
    return new Promise<GenerateResult>((resolve, reject) => {
      const signal = opts.signal;
      // when running on its own, an abort wakes the pump so the next step frees the sequence
      const onAbort = () => { if (autoRun) this.#pump(); };
      signal?.addEventListener("abort", onAbort, { once: true });
      const unlisten = () => signal?.removeEventListener("abort", onAbort);
      // an adapter nothing made resident is, for as long as this sequence runs (see resident-adapters.ts)
      const held = this.opts.residentAdapters ? adapter : null;
      holdResident(held);
      const done = () => { unlisten(); releaseResident(held); };
      this.#waiting.push({ prompt, fed: 0, pos: 0, last: -1, out: [], text: "", emitted: 0, kv: null as unknown as KvCache, adapter, sampler, opts, resolve: (r) => { done(); resolve(r); }, reject: (e) => { done(); reject(e); }, unlisten });
      if (autoRun) this.#pump();
    });
  }

  // sequences whose signal has aborted leave before the step gathers rows: a waiting one never
  // takes a KV cache, a running one gives its cache back; both resolve "cancelled"
  #dropCancelled(): void {
    const cancelled = (s: Seq) => s.opts.signal?.aborted === true;
    if (!this.#waiting.some(cancelled) && !this.#running.some(cancelled)) return;
    for (const s of this.#waiting.filter(cancelled)) this.#finish(s, "cancelled");
    this.#waiting = this.#waiting.filter((s) => !cancelled(s));
    for (const s of this.#running.filter(cancelled)) {
      this.#running.splice(this.#running.indexOf(s), 1);
      this.#free.push(s.kv);
      this.#finish(s, "cancelled");
    }
  }

  #finish(s: Seq, finishReason: GenerateResult["finishReason"]): void {
    // a cancelled stream reports the text it streamed, never a prefix it held back
    const text = finishReason !== "cancelled" ? s.text : s.opts.onText ? s.text.slice(0, s.emitted) : this.tokenizer.decode(s.out);
    s.resolve({ text, tokens: s.out, promptTokens: s.prompt.length, finishReason });
  }

  /** Run one batched forward step over all running sequences; returns the rows computed. */
  step(): number {
    this.#dropCancelled();
    // admit waiting sequences while there are KV caches to give
    while (this.#waiting.length && this.#running.length < this.opts.maxSequences) {
      const s = this.#waiting.shift()!;
      s.kv = this.#free.pop() ?? createKvCache(this.model.config);
      this.#running.push(s);
    }
    const rows: Row[] = [];
    const owners: Array<{ seq: Seq; lastRow: number }> = [];
    for (const s of this.#running) {
      const room = this.opts.maxBatch - rows.length;
      if (room <= 0) break;
      if (s.fed < s.prompt.length) {
        // prefill: consecutive prompt positions as rows; forward() handles rows of one sequence in order
        const n = Math.min(room, this.opts.prefillChunk, s.prompt.length - s.fed);
        for (let i = 0; i < n; i++) rows.push({ token: s.prompt[s.fed + i]!, pos: s.pos + i, kv: s.kv, adapter: s.adapter });
        s.fed += n;
        s.pos += n;
        if (s.fed === s.prompt.length) owners.push({ seq: s, lastRow: rows.length - 1 });
      } else {
        rows.push({ token: s.last, pos: s.pos++, kv: s.kv, adapter: s.adapter });
        owners.push({ seq: s, lastRow: rows.length - 1 });
      }
    }
    if (rows.length === 0) return 0;
    const logits = forward(this.model, rows, this.#state);
    this.steps++;
    this.rowsRun += rows.length;
    const V = this.model.config.vocabSize;
    for (const { seq, lastRow } of owners) this.#accept(seq, seq.sampler.sample(logits.subarray(lastRow * V, (lastRow + 1) * V)));
    return rows.length;
  }

  #accept(s: Seq, tok: number): void {
    s.last = tok;
    s.out.push(tok);
    s.opts.onToken?.(tok);
    let finish: GenerateResult["finishReason"] | null = null;
    // detokenizing is only needed per step for stop sequences and streaming; otherwise once at the end
    const watch = s.opts.stop.length > 0 || s.opts.onText !== undefined;
    if (tok === this.tokenizer.eos) finish = "stop";
    else if (watch) {
      s.text = this.tokenizer.decode(s.out);
      for (const stop of s.opts.stop) {
        const at = stop ? s.text.indexOf(stop) : -1;
        if (at >= 0) { s.text = s.text.slice(0, at); finish = "stop"; }
      }
    }
    if (!finish && (s.out.length >= s.opts.maxTokens || s.pos >= this.model.config.maxSeqLen)) finish = "length";
    if (finish && !watch) s.text = this.tokenizer.decode(tok === this.tokenizer.eos ? s.out.slice(0, -1) : s.out);
    // stream what can no longer change: hold back a possible stop-sequence prefix and a split UTF-8 char
    const hold = finish ? 0 : Math.max(0, ...s.opts.stop.map((x) => x.length - 1)) + (s.text.endsWith("\uFFFD") ? 1 : 0);
    const upto = Math.max(s.emitted, s.text.length - hold);
    if (upto > s.emitted) { s.opts.onText?.(s.text.slice(s.emitted, upto)); s.emitted = upto; }
    if (finish) {
      this.#running.splice(this.#running.indexOf(s), 1);
      this.#free.push(s.kv);
      this.#finish(s, finish);
    }
  }

  /** Step until nothing is running or waiting (synchronous; for tests, CLI and benchmarks). */
  drain(): void {
    while (this.#running.length || this.#waiting.length) this.step();
  }

  // A step or a hook that throws fails every sequence it held with that error (each caller
  // gets it, none hangs) instead of escaping from setImmediate and ending the process; what is
  // submitted afterwards is served.
  #guarded(f: () => void): void {
    try {
      f();
    } catch (e) {
      for (const s of [...this.#running, ...this.#waiting]) s.reject(e as Error);
      this.#running = [];
      this.#waiting = [];
    }
  }

  // drive steps from the event loop, yielding between steps so new requests can join
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    const tick = () => {
      this.#guarded(() => this.step());
      if (this.afterStep) this.#guarded(this.afterStep);
      if (this.#running.length || this.#waiting.length) next();
      else this.#pumping = false;
    };
    // both in the same check phase, in this order; Node runs the microtasks between them
    const next = () => {
      const before = this.beforeStep;
      if (before) setImmediate(() => this.#guarded(before));
      setImmediate(tick);
    };
    next();
  }
}
