// The trainer's attribution step, after the adapter is trained: the span index and the
// records' gradient sketches, written beside the adapter under `{outputPrefix}adapter/`.
// Neither file is needed to serve the adapter (calls fall back to the static weights), so a
// failure here is logged and the job still succeeds.
import type { BlobStore } from "../../core/ports/blob-store.ts";
import { loadHfModel, parseAdapter } from "../engine/index.ts";
import { encodeSketches, INDEX_FILE, SKETCH_FILE } from "./attribution-files.ts";
import { buildAttributionIndex, type TrainedRecord } from "./attribution-index.ts";
import { DEFAULT_SKETCH, sketchRecords, type SketchOptions } from "./gradient-sketch.ts";

export interface AttributionStepInput {
  outputPrefix: string; // the job's, ending in "/"
  modelDir: string; // the base model (HF layout)
  adapterConfig: string; // adapter_config.json as written
  adapterWeights: Uint8Array; // adapter_model.safetensors as written
  records: readonly TrainedRecord[]; // the training split, tokens as trained
  /** Sketch size and seed; false skips the sketches (span attribution only). */
  sketch?: SketchOptions | false;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** Writes attribution-index.safetensors (and gradient-sketches.safetensors); returns the keys written. */
export async function writeAttributionFiles(blobs: BlobStore, input: AttributionStepInput): Promise<string[]> {
  const log = input.log ?? (() => {});
  const written: string[] = [];
  try {
    const t0 = performance.now();
    const key = `${input.outputPrefix}adapter/${INDEX_FILE}`;
    const bytes = buildAttributionIndex(input.records);
    await blobs.put(key, bytes, { contentType: "application/octet-stream" });
    written.push(key);
    log("attribution index written", { records: input.records.length, bytes: bytes.length, ms: Math.round(performance.now() - t0) });
  } catch (e) {
    log("attribution index not written; calls will use static weights", { error: String(e) });
    return written;
  }
  if (input.sketch === false) return written;
  try {
    const t0 = performance.now();
    const { model, tokenizer } = loadHfModel(input.modelDir);
    const adapter = parseAdapter("sketch", input.adapterConfig, input.adapterWeights, model.config);
    const docs = input.records.map((r) => ({ tokens: Int32Array.from(r.tokens), ...(r.loss ? { loss: r.loss } : {}) }));
    const set = sketchRecords(model, adapter, docs, { bos: tokenizer.bos, eos: tokenizer.eos }, input.sketch ?? DEFAULT_SKETCH);
    const key = `${input.outputPrefix}adapter/${SKETCH_FILE}`;
    await blobs.put(key, encodeSketches(set, input.records.map((r) => r.contributionId), { loss: "record" }), { contentType: "application/octet-stream" });
    written.push(key);
    log("gradient sketches written", { records: input.records.length, k: set.k, ms: Math.round(performance.now() - t0) });
  } catch (e) {
    log("gradient sketches not written; calls will use span attribution only", { error: String(e) });
  }
  return written;
}
