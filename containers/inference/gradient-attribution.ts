// The asynchronous half of a call's attribution (the embedded engine's base models): the
// gradient of the call's answer (its mean margin, TRAK's output function) with respect to the
// adapter's LoRA parameters, sketched at the sketch file's k and compared with the training
// records' sketches (their training loss's gradients), then combined with the span evidence.
// It costs a forward and a backward pass, so it runs after the response, from what the usage
// record keeps (the prompt's and completion's token ids), before settlement. It loads its own
// copy of the base model and the adapter from their files (the serving backend is not asked).
// Deterministic: run twice for one call, it yields the same attribution.
import { attributeCall, type CallAttribution } from "../../core/attribution/index.ts";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { loadHfModel, loraBytes, parseAdapter, type LoadedModel, type LoraAdapter } from "../engine/index.ts";
import { decodeSketches, SKETCH_FILE } from "../trainer/attribution-files.ts";
import { readBlob } from "../trainer/blob-files.ts";
import { sketchCall } from "../trainer/gradient-sketch.ts";
import { attributionLoader, outputTokens, type AttributableModel } from "./attribution-hook.ts";
import { sizedCache } from "./sized-cache.ts";

export interface GradientAttributorOptions {
  blobs: BlobStore;
  tables: Tables;
  /** Directory (HF layout) of a base model the embedded engine serves, by id; undefined: no gradients for it. */
  baseModelDir: (id: string) => string | undefined;
  log?: (level: "info" | "warn", message: string, fields?: Record<string, unknown>) => void;
  /**
   * Bytes of adapters' weights and sketches kept between calls, least recently used first out
   * (default DEFAULT_GRADIENT_CACHE_BYTES): sketches are k = 2048 floats a record, 5.6 MB for
   * 680 records, so an unbounded map would grow with every adapter ever called.
   */
  cacheBytes?: number;
}

export const DEFAULT_GRADIENT_CACHE_BYTES = 256 * 1024 * 1024;

/** What the usage table keeps of a call for this method (core/settlement's AttributionInput). */
export interface RecordedCall {
  requestId: string;
  model: AttributableModel;
  promptTokenIds: number[];
  completionTokenIds: number[]; // EOS included when it ended the text
}

/** A function computing a call's final attribution (span and gradient combined where both apply). */
export function gradientAttributor(opts: GradientAttributorOptions): (call: RecordedCall) => Promise<CallAttribution> {
  const log = opts.log ?? (() => {});
  const bases = new Map<string, LoadedModel | null>();
  const base = (id: string): LoadedModel | null => {
    if (!bases.has(id)) {
      const dir = opts.baseModelDir(id);
      bases.set(id, dir ? loadHfModel(dir) : null);
    }
    return bases.get(id)!;
  };
  const loadIndex = attributionLoader({ ...opts, baseModel: (id) => { const b = base(id); return b ? { vocabSize: b.model.config.vocabSize, eos: b.tokenizer.eos } : undefined; } });
  type Inputs = { adapter: LoraAdapter; sketches: ReturnType<typeof decodeSketches> } | null;
  const cached = sizedCache<Inputs>(opts.cacheBytes ?? DEFAULT_GRADIENT_CACHE_BYTES, (r) => (r ? loraBytes(r.adapter) + r.sketches.sketches.byteLength : 0));

  const gradientInputs = (model: AttributableModel, loaded: Awaited<ReturnType<typeof loadIndex>>, b: LoadedModel): Promise<Inputs> =>
    cached(`${model.id}\u0000${model.files?.weights ?? ""}`, async () => {
      if (!model.files || !loaded.index) return null;
      const dir = model.files.weights.slice(0, model.files.weights.lastIndexOf("/") + 1);
      const [config, weights, sketchBytes] = await Promise.all([readBlob(opts.blobs, model.files.config), readBlob(opts.blobs, model.files.weights), readBlob(opts.blobs, `${dir}${SKETCH_FILE}`)]);
      if (!config || !weights || !sketchBytes) {
        log("info", "adapter has no gradient sketches; its calls use span attribution only", { adapter: model.id });
        return null;
      }
      try {
        return { adapter: parseAdapter(model.id, config.toString("utf8"), weights, b.model.config), sketches: decodeSketches(sketchBytes, loaded.index) };
      } catch (e) {
        log("warn", "gradient sketches unreadable; the adapter's calls use span attribution only", { adapter: model.id, error: e instanceof Error ? e.message : String(e) });
        return null;
      }
    });

  return async (call) => {
    const loaded = await loadIndex(call.model);
    const b = base(call.model.baseModel);
    const output = outputTokens(call.completionTokenIds, b?.tokenizer.eos ?? null);
    const input = { requestId: call.requestId, index: loaded.index, indexProblem: loaded.problem, prompt: call.promptTokenIds, output, static: loaded.static };
    const g = b ? await gradientInputs(call.model, loaded, b) : null;
    if (!g || !b || call.completionTokenIds.length === 0) return attributeCall(input).attribution;
    const query = sketchCall(b.model, g.adapter, call.promptTokenIds, call.completionTokenIds, g.sketches);
    return attributeCall({ ...input, gradient: { sketches: g.sketches, query } }).attribution;
  };
}
