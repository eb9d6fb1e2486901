// Span attribution after every generation, through the GenerationHook seam (hooks.ts): the
// adapter's span index is loaded beside its weights (once, then cached), the prompt's and the
// completion's token ids are matched against it, and the result becomes the response's
// top-level `attribution` field (the final chunk's when streaming). It never changes the text
// and never fails a call: an adapter without an index, or with one that cannot be read, is
// attributed by its static weights, and the reason is logged once per adapter.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { attributeCall, type CallAttribution, type SpanIndex, type StaticWeights } from "../../core/attribution/index.ts";
import { loadAdapter } from "../../core/adapters/index.ts";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { loadTokenizer } from "../engine/index.ts";
import { decodeSpanIndex, INDEX_FILE } from "../trainer/attribution-files.ts";
import { readBlob } from "../trainer/blob-files.ts";
import type { GenerationHook, GenerationRecord, ServedModel } from "./hooks.ts";
import { sizedCache } from "./sized-cache.ts";

export interface AttributionHookOptions {
  blobs: BlobStore;
  tables: Tables;
  /** The base model's vocabulary size and end-of-text id (an index must fit the one it serves with). */
  baseModel: (id: string) => { vocabSize: number; eos: number | null } | undefined;
  /**
   * Bytes of span indexes kept in memory, least recently used first out (default
   * DEFAULT_INDEX_CACHE_BYTES). A budget in bytes, not adapters: indexes grow with the training
   * set (4 bytes a token and more), and an entry evicted here is read again from the blob store
   * (S3 on AWS) by the adapter's next call, so it should hold the indexes of the adapters the
   * serving cache holds.
   */
  cacheBytes?: number;
  log?: (level: "info" | "warn", message: string, fields?: Record<string, unknown>) => void;
  /** Called with each call's attribution and the time it took (ms), e.g. for a usage record or a histogram. */
  onAttributed?: (attribution: CallAttribution, ms: number, record: GenerationRecord) => void;
}

export interface Loaded {
  index: SpanIndex | null;
  problem: "no-index" | "index-unreadable" | undefined;
  static: StaticWeights;
}

/** Vocabulary size and end-of-text id of the base model in `dir` (HF layout), read once; undefined when unreadable. */
export function baseModelShape(dir: string): { vocabSize: number; eos: number | null } | undefined {
  if (!shapes.has(dir)) {
    try {
      const vocabSize = (JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { vocab_size: number }).vocab_size;
      shapes.set(dir, { vocabSize, eos: loadTokenizer(dir, vocabSize).eos });
    } catch {
      shapes.set(dir, undefined);
    }
  }
  return shapes.get(dir);
}
const shapes = new Map<string, { vocabSize: number; eos: number | null } | undefined>();

/** What attribution needs of a served adapter (a usage record's asynchronous input keeps just this). */
export type AttributableModel = Pick<ServedModel, "id" | "baseModel" | "files">;

/** Where an adapter's span index lives: beside its weights. */
export function indexKeyOf(model: AttributableModel): string | undefined {
  const w = model.files?.weights;
  return w ? `${w.slice(0, w.lastIndexOf("/") + 1)}${INDEX_FILE}` : undefined;
}

export const DEFAULT_INDEX_CACHE_BYTES = 64 * 1024 * 1024;

/** About what an index holds in memory: its three arrays, and each record's owner (ids and an address, ~256 bytes). */
const indexBytes = (i: SpanIndex) => i.tokens.byteLength + i.suffixArray.byteLength + i.recordStarts.byteLength + i.records.length * 256;

/** Loads (once, then from an LRU cache with a byte budget) each adapter's span index and static weights. */
export function attributionLoader(opts: Pick<AttributionHookOptions, "blobs" | "tables" | "baseModel" | "cacheBytes" | "log">): (model: AttributableModel) => Promise<Loaded> {
  const log = opts.log ?? (() => {});
  const cached = sizedCache<Loaded>(opts.cacheBytes ?? DEFAULT_INDEX_CACHE_BYTES, (l) => (l.index ? indexBytes(l.index) : 0));
  const load = (model: AttributableModel): Promise<Loaded> => cached(`${model.id}\u0000${model.files?.weights ?? ""}`, () => loadFor(model));

  const loadFor = async (model: AttributableModel): Promise<Loaded> => {
    const record = await loadAdapter({ tables: opts.tables }, model.id);
    const statics: StaticWeights = {
      contributors: (record?.contributors ?? []).map((c) => ({ address: c.address, weightBps: c.weightBps })),
      datanets: (record?.datanets ?? []).map((d) => ({ id: d.id, version: d.version, weightBps: d.weightBps })),
    };
    const base = opts.baseModel(model.baseModel);
    const key = indexKeyOf(model);
    const bytes = key ? await readBlob(opts.blobs, key) : undefined;
    if (!bytes || !base) {
      log("info", "adapter has no span index; its calls use static weights", { adapter: model.id, key });
      return { index: null, problem: "no-index", static: statics };
    }
    try {
      return { index: decodeSpanIndex(bytes, base.vocabSize, key), problem: undefined, static: statics };
    } catch (e) {
      log("warn", "span index unreadable; the adapter's calls use static weights", { adapter: model.id, key, error: e instanceof Error ? e.message : String(e) });
      return { index: null, problem: "index-unreadable", static: statics };
    }
  };
  return load;
}

/** The completion's token ids without the end-of-text token that ended it. */
export function outputTokens(completion: readonly number[], eos: number | null): number[] {
  return eos !== null && completion.at(-1) === eos ? completion.slice(0, -1) : [...completion];
}

/**
 * A call's span attribution from its GenerationRecord (undefined for a base-model call): what
 * the hook adds to the response, and what a usage record can keep to split the call's fee by
 * (e.g. `usageHook` given this instead of the adapter's static weights). Same record, same result.
 */
export function spanAttributor(opts: AttributionHookOptions): (record: GenerationRecord) => Promise<CallAttribution | undefined> {
  const load = attributionLoader(opts);
  return async (record) => {
    const { ctx } = record;
    if (ctx.model.kind !== "adapter") return undefined;
    const t0 = performance.now();
    const loaded = await load(ctx.model);
    const output = outputTokens(record.completionTokenIds, opts.baseModel(ctx.model.baseModel)?.eos ?? null);
    const { attribution } = attributeCall({ requestId: ctx.requestId, index: loaded.index, indexProblem: loaded.problem, prompt: record.promptTokenIds, output, static: loaded.static });
    opts.onAttributed?.(attribution, performance.now() - t0, record);
    return attribution;
  };
}

/** A call's span attribution, computed once per GenerationRecord however many hooks ask (the response and the usage record get the same one). */
export type SpanAttributor = (record: GenerationRecord) => Promise<CallAttribution | undefined>;

/** `spanAttributor`, remembered per record: hand the same one to `attributionHook` and `usageHook`. */
export function sharedSpanAttributor(opts: AttributionHookOptions): SpanAttributor {
  const attribute = spanAttributor(opts);
  const done = new WeakMap<GenerationRecord, Promise<CallAttribution | undefined>>();
  return (record) => {
    let p = done.get(record);
    if (!p) done.set(record, (p = attribute(record)));
    return p;
  };
}

/** The hook that adds `attribution` to every adapter call's response. Base-model calls get none. */
export function attributionHook(opts: AttributionHookOptions & { attribute?: SpanAttributor }): GenerationHook {
  const attribute = opts.attribute ?? spanAttributor(opts);
  return async (record) => {
    const attribution = await attribute(record);
    return attribution ? { attribution } : undefined;
  };
}
