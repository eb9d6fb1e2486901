// Where one LoRA training step of the engine spends its CPU time, by op: a V8 sampling profile
// (node:inspector) of steps on the main thread, each sample given to the op it belongs to, and
// the shares scaled by the thread's own CPU time over the same steps (process.threadCpuUsage),
// so time other processes held the core is not counted. Used by bench/engine.ts; run alone
// (`node bench/engine-profile.ts`) it prints the table for the bench's training shape.
// `node bench/engine-profile.ts serving` profiles bench:engine's 64-stream serving workload
// instead (1 kernel thread; the base, 1 adapter and 1,024 adapters in interleaved rounds,
// PROFILE_ROUNDS of them, 8 by default): the serving thread's CPU µs per generated token by op.
import { Session } from "node:inspector/promises";
import { readFileSync } from "node:fs";

/** One op's share of a step: CPU milliseconds per step and the fraction of the samples. */
export interface OpTime { op: string; msPerStep: number; share: number }

// wasm-function[i] → the .wat's i-th function (the one import, Math.log, is index 0), named by
// its export or its $name: the profile names wasm functions by index when there is no name section
const KERNELS_WAT = new URL("../containers/engine/kernels/kernels.wat", import.meta.url);
function wasmNames(wat: URL): { names: string[]; exported: Set<string> } {
  const text = readFileSync(wat, "utf8");
  return {
    names: ["log", ...[...text.matchAll(/^ {2}\(func (?:\(export "([\w]+)"\)|\$([\w]+))/gm)].map((m) => m[1] ?? m[2]!)],
    exported: new Set([...text.matchAll(/^ {2}\(func \(export "([\w]+)"\)/gm)].map((m) => m[1]!)),
  };
}

// the op a kernel export stands for in the table
const KERNEL_OP: Record<string, string> = {
  matmul: "matmul forward (x·Wᵀ)", matmul_dx: "matmul backward, dx = dy·W", matmul_dw: "matmul backward, dW = dyᵀ·x",
  attn_fwd: "attention forward", attn_bwd: "attention backward", rmsnorm: "RMSNorm forward", rmsnorm_bwd: "RMSNorm backward",
  swiglu: "SwiGLU forward", swiglu_bwd: "SwiGLU backward", cross_entropy: "cross-entropy (fwd + grad)",
  add_scaled: "residual adds (add_scaled)", fill_zero: "zeroing the step arena's arrays (fill_zero)",
};
// a helper's own samples whose stack lost the export that called it (V8 leaves some frames out)
const HELPER_OP: Record<string, string> = {
  sums4: KERNEL_OP.matmul!, dx_block4: KERNEL_OP.matmul_dx!, axpy4: "matmul backward (dx or dW)",
  outer4: "attention (forward or backward)", dot4: "attention (forward or backward)", rank4: KERNEL_OP.attn_bwd!, dsoftmax_row: KERNEL_OP.attn_bwd!,
  softmax_row: KERNEL_OP.attn_fwd!, exp_row: "attention (forward or backward)", splat_rows: "attention (forward or backward)",
  transpose_group: "attention (forward or backward)", untranspose_add: KERNEL_OP.attn_bwd!, block_start: "attention (forward or backward)",
  exp4: "exp (SwiGLU or cross-entropy)", exp1: "exp (SwiGLU or cross-entropy)", sigmoid4: "SwiGLU (forward or backward)", xent_row: KERNEL_OP.cross_entropy!,
};
// JS functions whose own time is an op of its own (the rest of the engine's JS: "other JS")
const JS_OP: Record<string, string> = {
  input: "copies into/out of the WASM heap", inputI32: "copies into/out of the WASM heap", output: "copies into/out of the WASM heap",
  rope: "RoPE (fwd + bwd, JS)", step: "optimizer (AdamW, clipping)", clipGradNorm: "optimizer (AdamW, clipping)",
  "(garbage collector)": "allocation / GC",
  forwardTrain: "element-wise in the graph (residual adds, embedding, dropout; JS)", backward: "element-wise in the graph (residual adds, embedding, dropout; JS)",
  linear: "element-wise in the graph (residual adds, embedding, dropout; JS)", linearBack: "element-wise in the graph (residual adds, embedding, dropout; JS)",
  fill: "element-wise in the graph (residual adds, embedding, dropout; JS)",
};
const LORA = new Set(["loraForward", "loraBackward"]);
const PROFILER = "(the profiler)"; // samples left out: they fall outside the timed steps

interface Node { id: number; callFrame: { functionName: string; url: string }; children?: number[] }

/** Per-op CPU time of `run()` (which should run `steps` optimizer steps), largest first; `wat`: the kernels' source the profiled code runs. */
export async function profileSteps(run: () => void, steps: number, wat: URL = KERNELS_WAT): Promise<{ ops: OpTime[]; cpuMsPerStep: number }> {
  const { names: WASM_NAMES, exported: EXPORTED } = wasmNames(wat);
  const s = new Session();
  s.connect();
  await s.post("Profiler.enable");
  await s.post("Profiler.setSamplingInterval", { interval: 100 });
  await s.post("Profiler.start");
  const c0 = process.threadCpuUsage();
  run();
  const cpu = process.threadCpuUsage(c0);
  const { profile } = (await s.post("Profiler.stop")) as unknown as { profile: { nodes: Node[]; samples: number[]; timeDeltas: number[] } };
  s.disconnect();

  const byId = new Map(profile.nodes.map((n) => [n.id, n])), parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: Node) => {
    const m = /^wasm-function\[(\d+)\]$/.exec(n.callFrame.functionName);
    return m ? `wasm:${WASM_NAMES[Number(m[1])] ?? m[1]}` : n.callFrame.functionName || "(anonymous)";
  };
  // a sample's op: a copy's own time; else anything under the LoRA functions; else the nearest
  // kernel export on the stack; else the JS function's own op
  const opOf = new Map<number, string>();
  const classify = (id: number): string => {
    const self = name(byId.get(id)!);
    if (JS_OP[self]?.startsWith("copies")) return JS_OP[self]!;
    let kernel: string | null = null;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const nm = name(byId.get(at)!);
      if (LORA.has(nm)) return "LoRA (A, B and their gradients)";
      if (!kernel && nm.startsWith("wasm:") && EXPORTED.has(nm.slice(5))) kernel = KERNEL_OP[nm.slice(5)] ?? `kernel ${nm.slice(5)}`;
    }
    if (kernel) return kernel;
    if (self.startsWith("wasm:")) return HELPER_OP[self.slice(5)] ?? `kernel ${self.slice(5)}`;
    const url = byId.get(id)!.callFrame.url;
    if (url.startsWith("node:inspector") || self === "post") return PROFILER; // starting and stopping this profile
    if (self.startsWith("js-to-wasm") || (url.endsWith("kernels/index.ts") && !JS_OP[self])) return "kernel wrappers (checks, staging, calls; JS)";
    return JS_OP[self] ?? (self === "(idle)" || self === "(program)" ? "runtime (idle, program)" : "other JS");
  };
  const ticks = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    let op = opOf.get(id);
    if (!op) opOf.set(id, (op = classify(id)));
    if (op === PROFILER) return;
    const dt = profile.timeDeltas[i] ?? 0;
    ticks.set(op, (ticks.get(op) ?? 0) + dt);
    if (process.env.PROFILE_DEBUG && op === "other JS") { const k = "  other JS: " + name(byId.get(id)!); ticks.set(k, (ticks.get(k) ?? 0) + dt); }
    total += dt;
  });
  const cpuMsPerStep = (cpu.user + cpu.system) / 1000 / steps;
  const ops = [...ticks.entries()].map(([op, t]) => ({ op, share: t / total, msPerStep: (t / total) * cpuMsPerStep })).sort((a, b) => b.msPerStep - a.msPerStep);
  return { ops, cpuMsPerStep };
}

// ── where a serving run's CPU time goes: base vs adapters (issue 12, the fifth round) ──

// lora-kernel.wat's functions by index (the module imports no function): the profile names
// wasm functions by index, and the two modules' indices overlap, so a frame is placed in this
// module when the JS that called into wasm is the LoRA delta's
const LORA_WAT = new URL("../containers/engine/kernels/lora-kernel.wat", import.meta.url);
const LORA_JS = new Set(["addLoraDeltaGroup", "loraRows", "addLoraDelta"]);
// the rows of the serving table: a kernel function or a JS function's own time, by name
const SERVE_OP: Array<[RegExp, string]> = [
  [/^kernels:(matmul|sums4|hsum)$/, "base matmuls (kernels.wat matmul)"],
  [/^kernels:(attend|exp4|exp1|hmax)$/, "attention (kernels.wat attend)"],
  [/^kernels:swiglu|^kernels:sigmoid4/, "SwiGLU (kernels.wat)"],
  [/^lora:(dot8_h|dot4_h|dot_h|dot8|dot4|dot|hsum4)$/, "LoRA delta kernel: A·x (dot8_h …)"],
  [/^lora:(axpy4_h|axpy1_h|axpy4|axpy1)$/, "LoRA delta kernel: Bᵀ pass (axpy4_h …)"],
  [/^lora:/, "LoRA delta kernel: row loop (lora_rows_t, delta_h)"],
  [/^js:(planLoraStep|writePlan|check|projectionsOf|checkLoraFits)$/, "LoRA plan (planLoraStep, adapter checks; JS)"],
  [/^js:addLoraDeltaGroup$/, "LoRA delta call (addLoraDeltaGroup; JS)"],
  [/^js:(rmsnorm|rope)$/, "RMSNorm and RoPE (ops.ts, JS)"],
  [/^js:(forward|projGroup)$/, "forward()'s own JS (embeddings, residuals, KV writes)"],
  [/^js:(sample|softmax|next|.*[Ss]ampler.*)$/, "sampling (sampler.ts)"],
  [/^js:(decode|convert_tokens_to_string|decodeUTF8|clean_up_tokenization|decode_chain)$|tokenizers/, "detokenizing (the stream's text)"],
  [/^js:(input|output|offsetOf|stage|scratch|heapFloats|fill|#ensure|viewI32|view|reset|matmul|attendRow|swiglu|slicesFor|timed|callKey|bounds|js-to-wasm.*)$/, "kernel wrappers (checks, staging, calls; JS)"],
  [/^js:(step|#accept|drain|#dropCancelled|submit|#finish)$/, "scheduler bookkeeping"],
  [/^js:\(garbage collector\)$/, "allocation / GC"],
];

/**
 * Per-op CPU µs per generated token of each variant's runs (`run` returns the tokens it
 * generated), from a V8 sampling profile, each op's share of the samples times this thread's
 * CPU time; the profiler's own samples are left out, so the ops add up to less than cpuPerToken
 * (which counts it). Rounds interleave the variants.
 */
export async function profileServing(variants: Array<{ name: string; run: () => number }>, rounds: number): Promise<{ ops: string[]; perToken: number[][]; cpuPerToken: number[] }> {
  const kernels = wasmNames(KERNELS_WAT).names, lora = [...readFileSync(LORA_WAT, "utf8").matchAll(/^ {2}\(func (?:\(export "([\w]+)"\)|\$([\w]+))/gm)].map((m) => m[1] ?? m[2]!);
  const s = new Session();
  s.connect();
  await s.post("Profiler.enable");
  await s.post("Profiler.setSamplingInterval", { interval: 100 });
  const us = variants.map(() => new Map<string, number>()), cpu = variants.map(() => 0), tokens = variants.map(() => 0);
  for (let r = 0; r < rounds; r++)
    for (const [vi, v] of (r % 2 ? [...variants.entries()].reverse() : [...variants.entries()])) {
      await s.post("Profiler.start");
      const c0 = process.threadCpuUsage();
      tokens[vi]! += v.run();
      const c = process.threadCpuUsage(c0);
      const { profile } = (await s.post("Profiler.stop")) as unknown as { profile: { nodes: Node[]; samples: number[]; timeDeltas: number[] } };
      const runUs = c.user + c.system;
      cpu[vi]! += runUs;
      const byId = new Map(profile.nodes.map((n) => [n.id, n])), parent = new Map<number, number>();
      for (const n of profile.nodes) for (const ch of n.children ?? []) parent.set(ch, n.id);
      const opOf = new Map<number, string>();
      const classify = (id: number): string => {
        const n = byId.get(id)!, fn = n.callFrame.functionName, m = /^wasm-function\[(\d+)\]$/.exec(fn);
        let name: string;
        if (m) {
          let caller = ""; // the JS that called into wasm
          for (let at = parent.get(id); at !== undefined && !caller; at = parent.get(at)) {
            const f = byId.get(at)!.callFrame;
            if (!f.url.startsWith("wasm") && !/^(js-to-wasm|wasm-function)/.test(f.functionName)) caller = f.functionName;
          }
          // pool.run's local slice of a lora_rows_t call runs through a closure inside addLoraDeltaGroup
          let inLora = LORA_JS.has(caller);
          for (let at = parent.get(id); at !== undefined && !inLora; at = parent.get(at)) inLora = LORA_JS.has(byId.get(at)!.callFrame.functionName);
          name = inLora ? `lora:${lora[Number(m[1])] ?? m[1]}` : `kernels:${kernels[Number(m[1])] ?? m[1]}`;
        } else name = `js:${fn || "(anonymous)"}`;
        if (n.callFrame.url.startsWith("node:inspector") || fn === "post") return PROFILER;
        if (fn === "(idle)" || fn === "(program)") return "runtime (idle, program)";
        if (/tokenizers/.test(n.callFrame.url)) return "detokenizing (the stream's text)";
        return SERVE_OP.find(([re]) => re.test(name))?.[1] ?? "other JS";
      };
      let total = 0;
      const ticks = new Map<string, number>();
      profile.samples.forEach((id, i) => {
        let op = opOf.get(id);
        if (!op) opOf.set(id, (op = classify(id)));
        const dt = profile.timeDeltas[i] ?? 0;
        total += dt; // the profiler's samples too: its time is in the thread's CPU time
        if (op !== PROFILER) ticks.set(op, (ticks.get(op) ?? 0) + dt);
      });
      for (const [op, t] of ticks) us[vi]!.set(op, (us[vi]!.get(op) ?? 0) + (t / total) * runUs);
    }
  s.disconnect();
  const ops = [...new Set(us.flatMap((m) => [...m.keys()]))].sort((a, b) => (us.at(-1)!.get(b) ?? 0) - (us.at(-1)!.get(a) ?? 0));
  return { ops, perToken: ops.map((op) => variants.map((_, vi) => (us[vi]!.get(op) ?? 0) / tokens[vi]!)), cpuPerToken: cpu.map((c, vi) => c / tokens[vi]!) };
}

// `node bench/engine-profile.ts serving`: the table for bench:engine's 64-stream serving workload at 1 kernel thread
if (import.meta.main && process.argv[2] === "serving") {
  const { BASE_MODEL_DIR, BatchScheduler, createLora, loadHfModel } = await import("../containers/engine/index.ts");
  const { setThreads } = await import("../containers/engine/kernels/index.ts");
  const { AdapterSlots } = await import("../containers/engine/kernels/adapter-slots.ts");
  const { loadavg } = await import("node:os");
  setThreads(1);
  const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
  const slots = new AdapterSlots({ capBytes: 256 * 2 ** 20 });
  const pool = Array.from({ length: 1024 }, (_, i) => {
    const a = createLora(model.config, { r: 8, alpha: 16, dropout: 0, targets: ["q_proj", "v_proj"] }, { id: `a${i}`, seed: 100 + i, randomB: true });
    if (!slots.place(a)) throw new Error(`adapter ${i} did not fit the kernel heap`);
    return a;
  });
  const noEos = { ...tokenizer, eos: null }, prompt = tokenizer.encode("The State of the Union");
  let round = 0;
  // bench:engine's serve(): 128 requests of 32 tokens at temperature 0.8, 64 at once, prefill chunks of 8
  const serve = (n: number) => {
    const sch = new BatchScheduler(model, noEos, { maxBatch: 64, maxSequences: 64, prefillChunk: 8 });
    const off = n === 1024 ? (round++ % 8) * 128 : 0;
    let generated = 0;
    for (let i = 0; i < 128; i++) void sch.submit(prompt, n === 0 ? null : pool[(off + i) % n]!, { maxTokens: 32, temperature: 0.8, seed: i, onToken: () => generated++ }, false);
    sch.drain();
    return generated;
  };
  const variants = [0, 1, 1024].map((n) => ({ name: n === 0 ? "base" : n === 1 ? "1 adapter" : "1,024 adapters", run: () => serve(n) }));
  for (const v of variants) v.run(); // warm-up
  const rounds = Number(process.env.PROFILE_ROUNDS ?? 8), l0 = loadavg()[0]!;
  const { ops, perToken, cpuPerToken } = await profileServing(variants, rounds);
  console.log(`load ${l0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}, ${rounds} interleaved rounds a variant, 1 kernel thread; serving-thread CPU µs per generated token: ${variants.map((v, i) => `${v.name} ${cpuPerToken[i]!.toFixed(1)}`).join(", ")}`);
  console.log(`| op | ${variants.map((v) => v.name).join(" | ")} | 1 adapter − base | 1,024 − base |`);
  console.log(`|---|${variants.map(() => "---:").join("|")}|---:|---:|`);
  ops.forEach((op, i) => { const p = perToken[i]!; console.log(`| ${op} | ${p.map((x) => x.toFixed(2)).join(" | ")} | ${(p[1]! - p[0]!).toFixed(2)} | ${(p[2]! - p[0]!).toFixed(2)} |`); });
  const sum = variants.map((_, vi) => perToken.reduce((a, p) => a + p[vi]!, 0));
  console.log(`| all of the above (the profiler's own samples left out) | ${sum.map((x) => x.toFixed(2)).join(" | ")} | ${(sum[1]! - sum[0]!).toFixed(2)} | ${(sum[2]! - sum[0]!).toFixed(2)} |`);
  process.exit(0);
}
