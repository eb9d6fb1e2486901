// Where one LoRA training step of the engine spends its CPU time, by op: a V8 sampling profile
// (node:inspector) of steps on the main thread, each sample given to the op it belongs to, and
// the shares scaled by the thread's own CPU time over the same steps (process.threadCpuUsage),
// so time other processes held the core is not counted. Used by bench/engine.ts; run alone
// (`node bench/engine-profile.ts`) it prints the table for the bench's training shape.
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
