// The two attribution files written beside the adapter, in the safetensors layout (8-byte
// little-endian header length, JSON header, raw little-endian tensors) so anyone can open
// them with Python's `safetensors` too:
//   adapter/attribution-index.safetensors   tokens I32 (n), suffix_array I32 (n), record_starts I32 (records);
//                                           metadata: format "mf-span-index/1", records (JSON: [{contributionId, datanetId, version, contributor}])
//   adapter/gradient-sketches.safetensors   sketches F32 (records, k); metadata: format "mf-gradient-sketch/1", seed, k, records (JSON: contribution ids)
// Reading never trusts the bytes: any mismatch is an AttributionIndexError naming the file.
import { AttributionIndexError, checkSpanIndex, SKETCH_FORMAT, SPAN_INDEX_FORMAT, type IndexedRecord, type SketchSet, type SpanIndex } from "../../core/attribution/index.ts";

export const INDEX_FILE = "attribution-index.safetensors";
export const SKETCH_FILE = "gradient-sketches.safetensors";

type Dtype = "I32" | "F32";
interface RawTensor {
  dtype: Dtype;
  shape: number[];
  data: Int32Array | Float32Array;
}

/** Encodes tensors (in the order given) and string metadata as safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, RawTensor>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const head = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + head.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const t of Object.values(tensors))
    for (let i = 0; i < t.data.length; i++, p += 4) {
      if (t.dtype === "I32") dv.setInt32(p, t.data[i]!, true);
      else dv.setFloat32(p, t.data[i]!, true);
    }
  return out;
}

/** Decodes safetensors bytes holding only I32/F32 tensors; throws AttributionIndexError for anything else. */
export function decodeSafetensors(bytes: Uint8Array, file: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const fail = (m: string): never => {
    throw new AttributionIndexError(file, m);
  };
  if (bytes.length < 8) fail("shorter than a safetensors header");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headLen = Number(dv.getBigUint64(0, true));
  if (headLen > bytes.length - 8 || headLen > 64 * 1024 * 1024) fail(`header length ${headLen} does not fit the file`);
  let header: Record<string, unknown> = {};
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headLen))) as Record<string, unknown>;
  } catch {
    fail("header is not JSON");
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) fail("header is not a JSON object");
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  if (typeof metadata !== "object" || Object.values(metadata).some((v) => typeof v !== "string")) fail("__metadata__ is not a map of strings");
  const dataStart = 8 + headLen, dataLen = bytes.length - dataStart;
  const tensors = new Map<string, RawTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e.dtype !== "I32" && e.dtype !== "F32") fail(`tensor ${name}: dtype ${String(e.dtype)} is not I32 or F32`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${name}: bad shape`);
    const [begin, end] = Array.isArray(e.data_offsets) ? (e.data_offsets as number[]) : [];
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin! < 0 || end! > dataLen || end! - begin! !== count * 4) fail(`tensor ${name}: offsets do not match its shape or the file`);
    const at = dataStart + begin!;
    const data = e.dtype === "I32" ? new Int32Array(count) : new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = e.dtype === "I32" ? dv.getInt32(at + i * 4, true) : dv.getFloat32(at + i * 4, true);
    tensors.set(name, { dtype: e.dtype as Dtype, shape: e.shape as number[], data });
  }
  return { tensors, metadata };
}

/** The span index as `attribution-index.safetensors` bytes. */
export function encodeSpanIndex(index: SpanIndex): Uint8Array {
  return encodeSafetensors(
    {
      tokens: { dtype: "I32", shape: [index.tokens.length], data: index.tokens },
      suffix_array: { dtype: "I32", shape: [index.suffixArray.length], data: index.suffixArray },
      record_starts: { dtype: "I32", shape: [index.recordStarts.length], data: index.recordStarts },
    },
    { format: SPAN_INDEX_FORMAT, records: JSON.stringify(index.records) },
  );
}

/** Reads and checks `attribution-index.safetensors` against the model's vocabulary. */
export function decodeSpanIndex(bytes: Uint8Array, vocabSize: number, file = INDEX_FILE): SpanIndex {
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  if (metadata.format !== SPAN_INDEX_FORMAT) throw new AttributionIndexError(file, `format ${metadata.format ?? "(none)"} is not ${SPAN_INDEX_FORMAT}`);
  const i32 = (name: string): Int32Array => {
    const t = tensors.get(name);
    if (!t || t.dtype !== "I32" || t.shape.length !== 1) throw new AttributionIndexError(file, `no 1-D I32 tensor ${name}`);
    return t.data as Int32Array;
  };
  let records: IndexedRecord[];
  try {
    records = JSON.parse(metadata.records ?? "") as IndexedRecord[];
  } catch {
    throw new AttributionIndexError(file, "metadata records is not JSON");
  }
  if (!Array.isArray(records)) throw new AttributionIndexError(file, "metadata records is not a list");
  return checkSpanIndex({ tokens: i32("tokens"), suffixArray: i32("suffix_array"), recordStarts: i32("record_starts"), records }, vocabSize, file);
}

/** Record sketches (rows in the span index's record order) as `gradient-sketches.safetensors` bytes. */
export function encodeSketches(set: SketchSet, contributionIds: string[], extra: Record<string, string> = {}): Uint8Array {
  if (set.sketches.length !== contributionIds.length * set.k) throw new RangeError(`${set.sketches.length / set.k} sketches for ${contributionIds.length} records`);
  return encodeSafetensors({ sketches: { dtype: "F32", shape: [contributionIds.length, set.k], data: set.sketches } }, { ...extra, format: SKETCH_FORMAT, seed: String(set.seed), k: String(set.k), records: JSON.stringify(contributionIds) });
}

/** Reads `gradient-sketches.safetensors`; its records must be the index's, in the same order. */
export function decodeSketches(bytes: Uint8Array, index: SpanIndex, file = SKETCH_FILE): SketchSet {
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  if (metadata.format !== SKETCH_FORMAT) throw new AttributionIndexError(file, `format ${metadata.format ?? "(none)"} is not ${SKETCH_FORMAT}`);
  const k = Number(metadata.k), seed = Number(metadata.seed);
  const t = tensors.get("sketches");
  if (!t || t.dtype !== "F32" || t.shape.length !== 2 || t.shape[1] !== k || !Number.isInteger(seed)) throw new AttributionIndexError(file, "no F32 sketches tensor of (records, k) with an integer seed");
  let ids: unknown;
  try {
    ids = JSON.parse(metadata.records ?? "");
  } catch {
    ids = null;
  }
  if (!Array.isArray(ids) || ids.length !== index.records.length || ids.some((id, i) => id !== index.records[i]!.contributionId)) throw new AttributionIndexError(file, "its records are not the span index's records in the same order");
  if (!(t.data as Float32Array).every(Number.isFinite)) throw new AttributionIndexError(file, "a sketch holds a non-finite number");
  return { k, seed, sketches: t.data as Float32Array };
}
