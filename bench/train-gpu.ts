// LoRA training throughput and peak memory of the trainer's PyTorch backend (containers/trainer/torch)
// against the embedded engine, in one run: `npm run bench:train-gpu`. Meant for a GPU machine
// (a checkout with `npm ci`, Node 24 and a CUDA torch on `TRAINER_PYTHON`, default python3); on a
// machine without one it runs the same rows on the CPU and says so, which proves the script works.
// Writes the "Trainer: PyTorch backend" section of docs/benchmarks.md (BENCH_WRITE=0 prints only).
//   BENCH_ROUNDS (3)  rounds, interleaved: engine, torch on the CPU, torch on CUDA, engine, ...
//   BENCH_QUICK=1     one round of few steps (a smoke run)
//   BENCH_GPU_SHAPE=1 also the larger shape on the CPU (it always runs where CUDA is present)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createLora, createModel, packDocuments, randomWeights, saveAdapter, saveHfModel, train, type Config, type Sequence } from "../containers/engine/index.ts";
import { Rng } from "../containers/engine/rng.ts";
import type { Target } from "../containers/engine/lora.ts";
import { runTorchProcess, torchRunConfig, type TorchEvent } from "../containers/trainer/torch-backend.ts";
import type { TrainWorkerInput } from "../containers/trainer/train-worker.ts";
import { fmtNum, fmtSummary, summarize, type Summary } from "./stats.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const ROUNDS = QUICK ? 1 : Number(process.env.BENCH_ROUNDS ?? 3);
const python = [process.env.TRAINER_PYTHON, "/usr/bin/python3", "python3"].find((p) => p && spawnSync(p, ["-c", "import torch"]).status === 0);
if (!python) throw new Error("bench:train-gpu needs a python3 with torch (TRAINER_PYTHON, or Debian's python3-torch)");
const hasCuda = spawnSync(python, ["-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"]).status === 0;

interface Shape {
  name: string;
  config: Config;
  lora: { r: number; alpha: number; targets: Target[] };
  batch: number;
  seq: number;
  steps: { engine: number; torch: number }; // per round; the first step (warm-up, CUDA init) is not timed
  engine: boolean; // the engine is the baseline where it finishes in reasonable time
}
const shapes: Shape[] = [
  {
    // bench:engine's training shape (issue 12): stories260K's config with seeded random weights
    name: "stories260K shape (64 wide, 5 layers, 8/4 heads, vocab 512), r=8 on q,v, batch 8 × 256",
    config: { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, maxSeqLen: 512, ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: true },
    lora: { r: 8, alpha: 16, targets: ["q_proj", "v_proj"] }, batch: 8, seq: 256, steps: QUICK ? { engine: 2, torch: 3 } : { engine: 4, torch: 10 }, engine: true,
  },
];
if (hasCuda || process.env.BENCH_GPU_SHAPE === "1")
  shapes.push({
    // a small Llama (TinyLlama's proportions at half the width): 1024 wide, 12 layers, GQA 16/8, vocab 32,000, ~174M parameters
    name: "1024 wide, 12 layers, 16/8 heads, vocab 32,000 (~174M parameters), r=16 on q,k,v,o, batch 8 × 1,024",
    config: { dim: 1024, hiddenDim: 2816, nLayers: 12, nHeads: 16, nKvHeads: 8, vocabSize: 32000, maxSeqLen: 1024, ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: false },
    lora: { r: 16, alpha: 32, targets: ["q_proj", "k_proj", "v_proj", "o_proj"] }, batch: 8, seq: 1024, steps: QUICK ? { engine: 0, torch: 3 } : { engine: 0, torch: 12 }, engine: false,
  });

interface Measured { tokensPerSec: number; peakBytes: number; device: string; deviceName?: string; blas?: string[]; torch?: string }

/** Tokens/s between the first and the last step event: the first step's warm-up is left out. */
const rate = (first: { tokens: number; elapsed: number }, last: { tokens: number; elapsed: number }) => (last.tokens - first.tokens) / Math.max(last.elapsed - first.elapsed, 1e-9);

function engineRound(model: ReturnType<typeof createModel>, shape: Shape, rows: Sequence[]): Measured {
  const adapter = createLora(model.config, { ...shape.lora, dropout: 0 }, { seed: 1 });
  const points: { tokens: number; elapsed: number }[] = [];
  train(model, adapter, { train: rows, eval: [] }, { steps: shape.steps.engine, batchSize: shape.batch, gradAccum: 1, evalEvery: 0, lr: 1e-3, seed: 1 }, (e) => {
    if (e.type === "step") points.push({ tokens: e.tokensPerSec * e.elapsedSec, elapsed: e.elapsedSec });
  });
  return { tokensPerSec: rate(points[0]!, points.at(-1)!), peakBytes: process.resourceUsage().maxRSS * 1024, device: "cpu (engine, 1 thread)" };
}

async function torchRound(modelDir: string, shape: Shape, rows: Sequence[], device: "cpu" | "cuda"): Promise<Measured> {
  const input = {
    modelDir, lora: { ...shape.lora, dropout: 0 }, adapterId: "bench", baseModelName: "bench", seed: 1,
    config: { batchSize: shape.batch, gradAccum: 1, lr: 1e-3, evalEvery: 0, checkpointEvery: 0, checkpointDir: null },
  } as unknown as TrainWorkerInput;
  const out = mkdtempSync(join(tmpdir(), "mf-bench-torch-"));
  const points: { tokens: number; elapsed: number }[] = [];
  let ready: Extract<TorchEvent, { type: "ready" }> | null = null;
  try {
    // one thread on the CPU, as the engine runs: a like-for-like comparison of the two implementations
    const end = await runTorchProcess(torchRunConfig(input, { train: rows, eval: [], steps: shape.steps.torch }, out, { device, threads: device === "cpu" ? 1 : undefined }), (e) => {
      if (e.type === "ready") ready = e;
      if (e.type === "progress") points.push({ tokens: e.tokens, elapsed: e.elapsedSec });
    }, { python, device, threads: device === "cpu" ? 1 : undefined });
    if (end.type !== "result") throw new Error("torch round stopped");
    const r = ready as Extract<TorchEvent, { type: "ready" }> | null;
    return { tokensPerSec: rate(points[0]!, points.at(-1)!), peakBytes: end.peakMemoryBytes, device: `${device} (torch${device === "cpu" ? ", 1 thread" : ""})`, deviceName: r?.deviceName, blas: r?.blas, torch: r?.torch };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** test/engine_torch_reference.py's own LoRA loop on the same shape: plain PyTorch with none of the recipe (no masks, padding or seeded draws), one thread. */
function referenceRound(modelDir: string, shape: Shape): Measured {
  const adapterDir = join(modelDir, "..", "reference-adapter");
  saveAdapter(adapterDir, createLora(shape.config, { ...shape.lora, dropout: 0 }, { seed: 1 }));
  const script = join(import.meta.dirname, "..", "test", "engine_torch_reference.py");
  const py = spawnSync(python!, [script, "bench", modelDir, adapterDir, String(shape.steps.torch), String(shape.batch), String(shape.seq)], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" } });
  if (py.status !== 0) throw new Error(`reference run failed: ${py.stderr}`);
  const r = JSON.parse(py.stdout) as { tokens_per_sec: number };
  return { tokensPerSec: r.tokens_per_sec, peakBytes: NaN, device: "cpu (reference, 1 thread)" };
}

const work = mkdtempSync(join(tmpdir(), "mf-bench-train-gpu-"));
const load0 = loadavg()[0]!;
const lines: string[] = [];
const log = (s = "") => {
  lines.push(s);
  console.log(s);
};
let torchVersion = "", blas: string[] = [], gpuName = "";
const table: string[] = [], notes: string[] = [];
try {
  for (const shape of shapes) {
    const rng = new Rng(42);
    const model = createModel(shape.config, randomWeights(shape.config, rng), "bench");
    const modelDir = join(work, `model-${shapes.indexOf(shape)}`);
    saveHfModel(modelDir, model);
    const need = Math.max(shape.steps.engine, shape.steps.torch) * shape.batch;
    const rows = packDocuments(Array.from({ length: need }, () => ({ tokens: Int32Array.from({ length: shape.seq - 1 }, () => Math.floor(rng.next() * shape.config.vocabSize)) })), shape.seq, { bos: 0, eos: null });
    const variants: { name: string; run: () => Measured | Promise<Measured> }[] = [
      ...(shape.engine ? [{ name: "engine (TypeScript + WASM SIMD), CPU, 1 thread", run: () => engineRound(model, shape, rows) }] : []),
      ...(shape.engine || !hasCuda ? [{ name: "torch backend, CPU, 1 thread", run: () => torchRound(modelDir, shape, rows, "cpu") }] : []),
      ...(shape.engine ? [{ name: "plain PyTorch loop (test/engine_torch_reference.py), CPU, 1 thread", run: () => referenceRound(modelDir, shape) }] : []),
      ...(hasCuda ? [{ name: "torch backend, CUDA", run: () => torchRound(modelDir, shape, rows, "cuda") }] : []),
    ];
    const results = variants.map(() => [] as Measured[]);
    for (let round = 0; round < ROUNDS; round++)
      for (const [i, v] of variants.entries()) {
        const m = await v.run();
        results[i]!.push(m);
        torchVersion ||= m.torch ?? "";
        if (m.blas?.length) blas = m.blas;
        if (m.device.startsWith("cuda")) gpuName = m.deviceName ?? "";
        console.error(`${shape.name} | ${v.name} | round ${round + 1}: ${fmtNum(m.tokensPerSec)} tok/s, peak ${fmtNum(m.peakBytes / 2 ** 20)} MiB`);
      }
    const tps = results.map((rs) => summarize(rs.map((m) => m.tokensPerSec)));
    const peak = results.map((rs) => (rs.every((m) => Number.isFinite(m.peakBytes)) ? summarize(rs.map((m) => m.peakBytes / 2 ** 20)) : null));
    const base = shape.engine ? tps[0]! : null;
    variants.forEach((v, i) => {
      const ratio = base && i > 0 ? `${fmtNum(tps[i]!.median / base.median, 2)}× the engine` : "";
      table.push(`| ${shape.name} | ${v.name} | ${fmtSummary(tps[i]!)} | ${ratio} | ${peak[i] ? fmtSummary(peak[i]) : "not measured"} |`);
    });
    for (const [i, v] of variants.entries()) if (base && i > 0) analysis(shape, v.name, tps[i]!, base);
    const backend = variants.findIndex((v) => v.name.startsWith("torch backend, CPU")), reference = variants.findIndex((v) => v.name.startsWith("plain PyTorch"));
    if (backend >= 0 && reference >= 0)
      notes.push(`The backend's recipe (block-diagonal masks from each row's starts, the engine's schedule, clipping and AdamW written out, per-step loss read back) ran at ${fmtNum(tps[backend]!.median / tps[reference]!.median, 2)}× the plain PyTorch loop's tokens/s on the same shape and thread (timing of the plain loop includes its first step).`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

function analysis(shape: Shape, name: string, s: Summary, base: Summary) {
  const r = s.median / base.median;
  notes.push(`On the ${shape.name.split(" (")[0]}, the ${name} trained ${fmtNum(r, 2)}× the engine's tokens/s (medians ${fmtNum(s.median)} vs ${fmtNum(base.median)}).`);
}

const load1 = loadavg()[0]!;
const cpu = cpus()[0]?.model ?? "unknown CPU";
const blasName = blas.length ? blas.map((b) => b.split("/").at(-1)).join(", ") + (blas.some((b) => /openblas/i.test(b)) ? " (OpenBLAS)" : " (the reference BLAS unless the alternatives point elsewhere)") : "not reported";
log(`Measured ${new Date().toISOString().slice(0, 10)} on ${hasCuda ? `${gpuName || "a CUDA GPU"} with ${cpu}` : `${cpu} (${cpus().length} cores, shared with other work), no GPU: every torch row ran on the CPU`}; PyTorch ${torchVersion} (${python}), BLAS ${blasName}; Node ${process.version}.`);
log(`Load average (1 min) ${fmtNum(load0, 1)} at the start and ${fmtNum(load1, 1)} at the end on ${cpus().length} cores.`);
log(`Every figure is the median of ${ROUNDS} interleaved round${ROUNDS > 1 ? "s" : ""} with its min–max; ratios are between medians of this run. Tokens/s count the packed rows' tokens from the second step to the last (the first step's warm-up left out), random weights, random tokens, dropout 0. Peak memory: CUDA's max allocated by tensors on the GPU; on the CPU the process's peak RSS (for torch it includes the library itself, about 250 MiB; for the engine the whole Node process).`);
log();
log("| shape | backend | tokens/s | ratio | peak memory (MiB) |");
log("|---|---|---|---|---|");
for (const row of table) log(row);
log();
for (const n of notes) log(n);
if (!hasCuda) log("No GPU was available to this run, so there is no CUDA row: run `npm run bench:train-gpu` on a GPU machine to fill it in (it adds the ~174M-parameter shape there).");

if (process.env.BENCH_WRITE !== "0") {
  const path = join(import.meta.dirname, "..", "docs", "benchmarks.md");
  let doc = readFileSync(path, "utf8");
  const section = `## Trainer: PyTorch backend\n\n<!-- written by npm run bench:train-gpu (bench/train-gpu.ts); edit the script, not this section -->\n\n${lines.join("\n")}\n`;
  const re = /## Trainer: PyTorch backend\n[\s\S]*?(?=\n## |$)/;
  doc = re.test(doc) ? doc.replace(re, section.trimEnd() + "\n") : doc.trimEnd() + "\n\n" + section;
  writeFileSync(path, doc);
}
