// safetensors read/write. The format is an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}} and a flat byte buffer.
// Written here (about 100 lines) because no maintained pure-JS reader/writer exists on npm;
// spec: https://github.com/huggingface/safetensors#format.

/** One tensor as read: always widened to fp32, row-major. */
export interface Tensor {
  dtype: "F32" | "F16" | "BF16" | "F64";
  shape: number[];
  data: Float32Array;
  wide?: Float64Array; // F64 tensors read with { keepF64: true }: the values before narrowing to data
}

/** Raised for a file that is not valid safetensors. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

const MAX_HEADER = 100 * 1024 * 1024;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const UTF8 = new TextDecoder();

/**
 * Parse a safetensors buffer into named fp32 tensors plus the header's metadata (keepF64: F64
 * tensors also as `wide`). `adopt`: the caller hands `buf` over (it must not change it after),
 * and F32 tensors are views of it instead of copies; one that is not 4-byte aligned there is a
 * view of a single aligned copy of the data. For an adapter's dozens of small matrices this is
 * most of a parse: each ArrayBuffer costs more to allocate than its bytes cost to copy.
 */
export function readSafetensors(buf: Uint8Array, opts: { keepF64?: boolean; adopt?: boolean } = {}): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  if (buf.byteLength < 8) throw new SafetensorsError("file shorter than the 8-byte header length");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > buf.byteLength) throw new SafetensorsError(`header length ${headerLen} exceeds file size`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(UTF8.decode(buf.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch {
    throw new SafetensorsError("header is not valid JSON");
  }
  const base = 8 + headerLen;
  const dataLen = buf.byteLength - base;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  let aligned: Uint8Array | null = null; // adopt, buf's data not 4-byte aligned: one copy that is
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!e || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) throw new SafetensorsError(`tensor ${name}: missing shape or data_offsets`);
    const [begin, end] = e.data_offsets;
    if (!(begin >= 0 && end >= begin && end <= dataLen)) throw new SafetensorsError(`tensor ${name}: data_offsets out of range`);
    const n = e.shape.reduce((a, b) => a * b, 1);
    const width = e.dtype === "F32" ? 4 : e.dtype === "F16" || e.dtype === "BF16" ? 2 : e.dtype === "F64" ? 8 : 0;
    if (width === 0) throw new SafetensorsError(`tensor ${name}: unsupported dtype ${e.dtype}`);
    if (end - begin !== n * width) throw new SafetensorsError(`tensor ${name}: byte length ${end - begin} != ${n} x ${width}`);
    if (opts.adopt && e.dtype === "F32" && LITTLE_ENDIAN && begin % 4 === 0) {
      if ((buf.byteOffset + base) % 4 !== 0) aligned ??= new Uint8Array(buf.subarray(base)); // a copy (offset 0), not a view
      const data = aligned ? new Float32Array(aligned.buffer, begin, n) : new Float32Array(buf.buffer, buf.byteOffset + base + begin, n);
      tensors.set(name, { dtype: "F32", shape: e.shape, data });
      continue;
    }
    const dv = new DataView(buf.buffer, buf.byteOffset + base + begin, end - begin);
    const data = new Float32Array(n);
    // F32 on a little-endian host is the file's bytes as they are: one memcpy instead of a
    // DataView read per element (what a cold adapter load mostly cost)
    if (e.dtype === "F32" && LITTLE_ENDIAN) new Uint8Array(data.buffer).set(buf.subarray(base + begin, base + end));
    else for (let i = 0; i < n; i++) {
      if (e.dtype === "F32") data[i] = dv.getFloat32(i * 4, true);
      else if (e.dtype === "F64") data[i] = dv.getFloat64(i * 8, true);
      else if (e.dtype === "BF16") data[i] = bf16ToF32(dv.getUint16(i * 2, true));
      else data[i] = f16ToF32(dv.getUint16(i * 2, true));
    }
    const wide = opts.keepF64 && e.dtype === "F64" ? Float64Array.from({ length: n }, (_, i) => dv.getFloat64(i * 8, true)) : undefined;
    tensors.set(name, { dtype: e.dtype as Tensor["dtype"], shape: e.shape, data, ...(wide ? { wide } : {}) });
  }
  return { tensors, metadata };
}

/** Serialise fp32 tensors (sorted by name, as the Python writer does) into a safetensors buffer. */
export function writeSafetensors(
  tensors: Map<string, { shape: number[]; data: Float32Array | Float64Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new SafetensorsError(`tensor ${name}: shape [${t.shape}] holds ${n} values, data has ${t.data.length}`);
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += " "; // pad so tensor data is 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    for (let i = 0; i < d.length; i++, pos += 4) view.setFloat32(pos, d[i]!, true);
  }
  return out;
}

function bf16ToF32(h: number): number {
  const f = new Float32Array(new Uint32Array([h << 16]).buffer);
  return f[0]!;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
