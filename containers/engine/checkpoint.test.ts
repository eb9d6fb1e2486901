// Model and adapter files: HF layout and llama2.c round trips, PEFT names, bad input.
import { afterAll, describe, expect, it, vi } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadHfModel, loadLlama2c, saveHfModel, saveLlama2c } from "./checkpoint.ts";
import { createKvCache, createRunState, forward, ModelError, type Model } from "./model.ts";
import { createLora, mergeLora, unmergeLora, LoraError } from "./lora.ts";
import { loadAdapter, parseAdapter, saveAdapter, serializeAdapter } from "./peft.ts";
import { readSafetensors, writeSafetensors, SafetensorsError } from "./safetensors.ts";
import { tinyModel } from "./test-helpers.ts";
import { useKernels } from "./kernels/index.ts";

// Every folder a test makes is removed at the end (they piled up in /tmp run after run).
const made: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), "engine-")); made.push(d); return d; };
afterAll(() => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
function logitsOf(m: Model, toks: number[]): Float32Array {
  const kv = createKvCache(m.config), s = createRunState(m.config, 1);
  let out = new Float32Array(0);
  toks.forEach((token, pos) => (out = Float32Array.from(forward(m, [{ token, pos, kv, adapter: null }], s))));
  return out;
}

describe("safetensors", () => {
  it("round-trips tensors and metadata, 8-byte aligned", () => {
    const buf = writeSafetensors(new Map([["b", { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) }], ["a", { shape: [1], data: new Float32Array([-7]) }]]), { format: "pt" });
    const { tensors, metadata } = readSafetensors(buf);
    expect(metadata).toEqual({ format: "pt" });
    expect(Array.from(tensors.get("b")!.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect(tensors.get("a")!.shape).toEqual([1]);
    expect(Number(new DataView(buf.buffer).getBigUint64(0, true)) % 8).toBe(0);
  });
  it("rejects truncated and malformed files", () => {
    expect(() => readSafetensors(new Uint8Array(3))).toThrow(SafetensorsError);
    const buf = writeSafetensors(new Map([["x", { shape: [4], data: new Float32Array(4) }]]));
    expect(() => readSafetensors(buf.subarray(0, buf.length - 4))).toThrow(/out of range/);
    expect(() => writeSafetensors(new Map([["x", { shape: [5], data: new Float32Array(4) }]]))).toThrow(/holds 5/);
  });
});

describe("HF layout", () => {
  it("saves and loads a model that computes the same logits", () => {
    for (const tie of [false, true]) {
      const m = tinyModel(2, { tieEmbeddings: tie, vocabSize: 260 }), dir = tmp();
      saveHfModel(dir, m);
      const { model, tokenizer } = loadHfModel(dir);
      expect(model.config).toEqual(m.config);
      expect(tokenizer.vocabSize).toBe(258);
      expect(Array.from(logitsOf(model, [1, 2, 3]))).toEqual(Array.from(logitsOf(m, [1, 2, 3])));
      expect(readSafetensors(readFileSync(join(dir, "model.safetensors"))).tensors.has("lm_head.weight")).toBe(!tie);
    }
  });
  it("names the missing tensor or bad shape", () => {
    const dir = tmp();
    saveHfModel(dir, tinyModel(2, { vocabSize: 260 }));
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg, intermediate_size: 30 }));
    expect(() => loadHfModel(dir)).toThrow(/gate_proj.weight has shape \[24,16\], expected \[30,16\]/);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg, num_attention_heads: 3 }));
    expect(() => loadHfModel(dir)).toThrow(ModelError);
    expect(() => loadHfModel(tmp())).toThrow(/no config.json/);
  });
});

describe("llama2.c checkpoints", () => {
  it("round-trips shared and separate classifiers", () => {
    for (const tie of [true, false]) {
      const m = tinyModel(3, { tieEmbeddings: tie, vocabSize: 260 }), path = join(tmp(), "m.bin");
      saveLlama2c(path, m);
      const { model } = loadLlama2c(path);
      expect(model.config.tieEmbeddings).toBe(tie);
      expect(Array.from(logitsOf(model, [4, 5, 6]))).toEqual(Array.from(logitsOf(m, [4, 5, 6])));
    }
  });
  it("llama2.c's interleaved RoPE on its q/k rows gives the same scores as ours on the loaded rows", () => {
    const m = tinyModel(4, { nKvHeads: 4, vocabSize: 260 }), path = join(tmp(), "m.bin");
    saveLlama2c(path, m);
    const c = m.config, hd = c.dim / c.nHeads, V = c.vocabSize, dim = c.dim;
    const raw = new Float32Array(readFileSync(path).buffer.slice(28));
    const wq = raw.subarray(V * dim + c.nLayers * dim, V * dim + c.nLayers * dim + dim * dim);
    const x = Float32Array.from({ length: dim }, (_, i) => Math.sin(i + 1));
    const mv = (w: Float32Array) => Float32Array.from({ length: dim }, (_, i) => x.reduce((s, v, j) => s + v * w[i * dim + j]!, 0));
    const ropeInterleaved = (v: Float32Array, p: number) => { // run.c's RoPE
      const o = Float32Array.from(v);
      for (let i = 0; i < dim; i += 2) {
        const f = 1 / Math.pow(10000, (i % hd) / hd), a = p * f;
        o[i] = v[i]! * Math.cos(a) - v[i + 1]! * Math.sin(a);
        o[i + 1] = v[i]! * Math.sin(a) + v[i + 1]! * Math.cos(a);
      }
      return o;
    };
    const ropeHalf = (v: Float32Array, p: number) => {
      const o = Float32Array.from(v), half = hd / 2;
      for (let h = 0; h < c.nHeads; h++) for (let i = 0; i < half; i++) {
        const a = p / Math.pow(10000, (2 * i) / hd), b = h * hd;
        o[b + i] = v[b + i]! * Math.cos(a) - v[b + i + half]! * Math.sin(a);
        o[b + i + half] = v[b + i + half]! * Math.cos(a) + v[b + i]! * Math.sin(a);
      }
      return o;
    };
    const { model } = loadLlama2c(path);
    const ql = ropeInterleaved(mv(wq), 5), kl = ropeInterleaved(mv(wq), 2);
    const qh = ropeHalf(mv(model.weights.layers[0]!.q_proj), 5), kh = ropeHalf(mv(model.weights.layers[0]!.q_proj), 2);
    for (let h = 0; h < c.nHeads; h++) {
      let sl = 0, sh = 0;
      for (let i = 0; i < hd; i++) { sl += ql[h * hd + i]! * kl[h * hd + i]!; sh += qh[h * hd + i]! * kh[h * hd + i]!; }
      expect(sh).toBeCloseTo(sl, 4);
    }
  });
  it("rejects a file whose size disagrees with its header", () => {
    const path = join(tmp(), "m.bin");
    saveLlama2c(path, tinyModel(1, { vocabSize: 260 }));
    writeFileSync(path, readFileSync(path).subarray(0, 1000));
    expect(() => loadLlama2c(path)).toThrow(/the header implies/);
  });
});

describe("PEFT adapters", () => {
  it("writes PEFT names and config, and loads back identical weights", () => {
    const m = tinyModel(5);
    const a = createLora(m.config, { r: 4, alpha: 8, dropout: 0.05, targets: ["q_proj", "v_proj", "down_proj"] }, { seed: 1, randomB: true, baseModel: "tiny" });
    const dir = tmp();
    saveAdapter(dir, a);
    const cfg = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    expect(cfg).toMatchObject({ peft_type: "LORA", task_type: "CAUSAL_LM", r: 4, lora_alpha: 8, lora_dropout: 0.05, target_modules: ["q_proj", "v_proj", "down_proj"], base_model_name_or_path: "tiny" });
    const { tensors } = readSafetensors(readFileSync(join(dir, "adapter_model.safetensors")));
    expect(tensors.get("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")!.shape).toEqual([4, 16]);
    expect(tensors.get("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight")!.shape).toEqual([16, 4]);
    expect(tensors.size).toBe(2 * 3 * 2);
    const b = loadAdapter(dir, m.config, "x");
    expect(Array.from(b.layers[1]!.v_proj!.B)).toEqual(Array.from(a.layers[1]!.v_proj!.B));
    expect(b.scale).toBe(2);
  });
  it("rejects adapters that do not fit the model or are not LoRA", () => {
    const m = tinyModel(5);
    const a = createLora(m.config, { r: 2, alpha: 2, dropout: 0, targets: ["q_proj"] });
    const { config, weights } = serializeAdapter(a);
    expect(() => parseAdapter("x", config, weights, { ...m.config, dim: 32, nHeads: 8 })).toThrow(LoraError);
    expect(() => parseAdapter("x", config.replace('"LORA"', '"IA3"'), weights, m.config)).toThrow(/not LORA/);
    expect(() => parseAdapter("x", "{", weights, m.config)).toThrow(/not valid JSON/);
    expect(() => createLora(m.config, { r: 0, alpha: 1, dropout: 0, targets: ["q_proj"] })).toThrow(/rank/);
    expect(() => createLora(m.config, { r: 2, alpha: 1, dropout: 0, targets: ["lm_head" as "q_proj"] })).toThrow(/unknown target/);
  });
  it("merge equals the adapter applied per row; unmerge restores the base", () => {
    const m = tinyModel(6);
    const a = createLora(m.config, { r: 3, alpha: 6, dropout: 0, targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] }, { seed: 2, randomB: true });
    const before = Float32Array.from(m.weights.layers[0]!.q_proj);
    const kv = createKvCache(m.config), s = createRunState(m.config, 1);
    const withAdapter = Float32Array.from(forward(m, [{ token: 3, pos: 0, kv, adapter: a }], s));
    mergeLora(m.weights, a);
    const merged = Float32Array.from(forward(m, [{ token: 3, pos: 0, kv, adapter: null }], s));
    merged.forEach((v, i) => expect(v).toBeCloseTo(withAdapter[i]!, 4));
    unmergeLora(m.weights, a);
    m.weights.layers[0]!.q_proj.forEach((v, i) => expect(v).toBeCloseTo(before[i]!, 6));
  });
});

describe("checkpoints the kernels cannot take", () => {
  // logits of the same tokens with the kernels on and off
  const bothPaths = (m: Model, toks: number[]) => {
    const on = logitsOf(m, toks);
    useKernels(false);
    try {
      return { on, off: logitsOf(m, toks) };
    } finally {
      useKernels(true);
    }
  };
  const fallbackWarnings = (spy: { mock: { calls: unknown[][] } }) =>
    spy.mock.calls.filter((c) => (c[1] as { code?: string } | undefined)?.code === "ENGINE_KERNELS_FALLBACK").map((c) => String(c[0]));

  it("an F64 checkpoint loads at full precision with a warning, and its ops run on the TS path", () => {
    const m = tinyModel(8, { tieEmbeddings: false, vocabSize: 260 }), dir = tmp();
    saveHfModel(dir, m);
    // rewrite model.safetensors with every tensor as F64 (values perturbed below fp32's resolution)
    const { tensors } = readSafetensors(readFileSync(join(dir, "model.safetensors")));
    const names = [...tensors.keys()].sort(), header: Record<string, unknown> = {};
    let off = 0;
    for (const n of names) { const t = tensors.get(n)!; header[n] = { dtype: "F64", shape: t.shape, data_offsets: [off, off + t.data.length * 8] }; off += t.data.length * 8; }
    let json = JSON.stringify(header);
    while (json.length % 8) json += " ";
    const buf = new Uint8Array(8 + json.length + off), dv = new DataView(buf.buffer);
    dv.setBigUint64(0, BigInt(json.length), true);
    buf.set(new TextEncoder().encode(json), 8);
    let pos = 8 + json.length;
    for (const n of names) for (const x of tensors.get(n)!.data) { dv.setFloat64(pos, x * (1 + 1e-12), true); pos += 8; }
    writeFileSync(join(dir, "model.safetensors"), buf);

    const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    try {
      const { model } = loadHfModel(dir);
      expect(model.weights.layers[0]!.q_proj).toBeInstanceOf(Float64Array); // not narrowed
      expect(model.weights.layers[0]!.q_proj[0]).toBe(m.weights.layers[0]!.q_proj[0]! * (1 + 1e-12));
      expect(fallbackWarnings(spy).some((w) => /not fp32/.test(w))).toBe(true);
      const { on, off } = bothPaths(model, [1, 2, 3, 4]);
      // every op on the f64 weights declined them; only attention over the fp32 KV cache (no
      // weights) may run its kernel, which differs from its loop in summation order alone
      for (let i = 0; i < on.length; i++) expect(Math.abs(on[i]! - off[i]!)).toBeLessThan(2e-6 * (1 + Math.abs(off[i]!)));
      const want = logitsOf(m, [1, 2, 3, 4]);
      for (let i = 0; i < want.length; i++) expect(Math.abs(on[i]! - want[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(want[i]!)));
    } finally {
      spy.mockRestore();
    }
  });

  it("a head size that is not a multiple of 4 warns at load, and decodes as the TS path does", () => {
    const m = tinyModel(9, { dim: 12, nHeads: 2, nKvHeads: 1, hiddenDim: 20, vocabSize: 260 }), dir = tmp(); // head size 6
    saveHfModel(dir, m);
    const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    try {
      const { model } = loadHfModel(dir);
      expect(fallbackWarnings(spy).some((w) => /head size 6 is not a multiple of 4/.test(w))).toBe(true);
      const { on, off } = bothPaths(model, [3, 1, 4, 1, 5, 9]);
      for (let i = 0; i < on.length; i++) expect(Math.abs(on[i]! - off[i]!)).toBeLessThan(2e-5 * (1 + Math.abs(off[i]!)));
    } finally {
      spy.mockRestore();
    }
  });
});
