// `npm run bench:engine`: the engine's benchmarks. Every figure is the median of several
// interleaved rounds with its min–max, every ratio is between medians of this same run on this
// machine, and every sentence of analysis is computed from them. Results go to the "Engine"
// section of docs/benchmarks.md. BENCH_QUICK=1 shrinks the workloads for a smoke run (and
// writes nothing). BENCH_ONLY=decode,serving,train runs only those parts (and writes nothing:
// paste what it prints); a full run on an idle 2-core machine takes about 10 minutes, most of
// it in the TS reference rows.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { join } from "node:path";
import {
  AdapterCache, BASE_MODEL_DIR, BatchScheduler, createKvCache, createLora, createModel, createRunState, forward, loadHfModel, loadLlama2c, packDocuments, randomWeights, saveAdapter, saveHfModel, saveLlama2c,
  train, type Config, type LoraAdapter, type Model, type Target,
} from "../containers/engine/index.ts";
import { defaultThreads, kernelPath, setThreads, threadCount, useKernels } from "../containers/engine/kernels/index.ts";
import { AdapterSlots } from "../containers/engine/kernels/adapter-slots.ts";
import { Rng } from "../containers/engine/rng.ts";
import { buildC, engineGreedy, runC, type DecodeRun } from "./decode-vs-c.ts";
import { fmtNum, fmtSummary, summarize, type Summary } from "./stats.ts";
import { profileSteps } from "./engine-profile.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map((x) => x.trim())) : null;
for (const k of ONLY ?? []) if (!["decode", "serving", "train"].includes(k)) throw new Error(`BENCH_ONLY takes decode, serving, train; got ${JSON.stringify(k)}`);
const part = (k: "decode" | "serving" | "train") => !ONLY || ONLY.has(k);
setFlagsFromString("--expose-gc"); // a collection before each serving round (below), so none lands inside one variant's timing
const gc = runInNewContext("typeof gc === 'function' ? gc : null") as (() => void) | null;
const startedAt = performance.now();
const CORES = cpus().length;
setThreads(1); // every comparison is one thread against one thread, but the row that says otherwise
const loadAtStart = loadavg()[0]!; // other work on this machine: every figure is relative to it
const ROUNDS = QUICK ? 2 : 5;
const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
const c = model.config;
const lines: string[] = [];
const log = (s: string) => { console.log(s); lines.push(s); };
const now = () => performance.now();
const work = mkdtempSync(join(tmpdir(), "bench-engine-"));
const fmt = (x: number) => fmtNum(x);
const ratio = (a: Summary, b: Summary, digits = 2) => `${(a.median / b.median).toFixed(digits)}×`;
const mkLora = (cfg: Config, i: number, r = 8, targets: Target[] = ["q_proj", "v_proj"]) => createLora(cfg, { r, alpha: 2 * r, dropout: 0, targets }, { id: `a${i}`, seed: i, randomB: true });
/** Round-robin over variants, `rounds` times: load from other processes hits every variant alike. */
function interleaved<T>(variants: T[], rounds: number, measure: (v: T) => number): Summary[] {
  const xs = variants.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) variants.forEach((v, i) => xs[i]!.push(measure(v)));
  return xs.map(summarize);
}
async function interleavedAsync<T>(variants: T[], rounds: number, measure: (v: T) => Promise<number>): Promise<Summary[]> {
  const xs = variants.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) for (const [i, v] of variants.entries()) xs[i]!.push(await measure(v));
  return xs.map(summarize);
}

// ── 1. single-stream greedy decode on llama2.c checkpoints: engine (SIMD and TS paths) vs C ──
// Two checkpoints the engine loads as llama2.c files: the committed base model exported to
// that format (trained weights), and the 15M-parameter llama2.c shape (stories15M's config)
// with seeded random weights (no pretrained weights can be downloaded here).
const shape15M: Config = { dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, maxSeqLen: 256, ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: true };
saveLlama2c(join(work, "base.bin"), model);
saveLlama2c(join(work, "15m.bin"), createModel(shape15M, randomWeights(shape15M, new Rng(7), 0.05), "15m"));
const checkpoints = [
  { name: `committed base model (${c.dim} wide, ${c.nLayers} layers, vocab ${c.vocabSize})`, path: join(work, "base.bin"), prompt: [tokenizer.bos ?? 0, ...tokenizer.encode("The State of the Union")], steps: QUICK ? 64 : c.maxSeqLen },
  { name: "llama2.c 15M shape (288 wide, 6 layers, vocab 32,000), random weights", path: join(work, "15m.bin"), prompt: [1, 450, 2106, 310, 278], steps: QUICK ? 32 : 64 },
];
const cBuild = buildC(work);
const decodeRows: string[] = [], decodeFacts: string[] = [];
for (const ck of part("decode") ? checkpoints : []) {
  const m = loadLlama2c(ck.path).model;
  for (let i = 0; i < 3; i++) engineGreedy(m, ck.prompt, ck.steps); // warm up: V8 tiers the hot functions up in the background
  type V = { name: string; run: () => DecodeRun };
  const variants: V[] = [
    { name: "engine, WASM SIMD", run: () => { useKernels(true); return engineGreedy(m, ck.prompt, ck.steps); } },
    { name: "engine, TS reference path", run: () => { useKernels(false); const r = engineGreedy(m, ck.prompt, ck.steps); useKernels(true); return r; } },
    ...("builds" in cBuild ? cBuild.builds.map((b) => ({ name: b.name, run: () => runC(b, ck.path, ck.prompt, ck.steps) })) : []),
  ];
  // positions decoded per second (prompt positions included, as run.c counts), by wall clock and
  // by the decoding process's own CPU time: on a machine shared with other work the wall clock
  // mostly measures who got the core, the CPU time what each implementation costs
  const tokens = new Map<string, string>(), cpuRates = variants.map(() => [] as number[]);
  const s = interleaved(variants, ROUNDS, (v) => {
    const r = v.run();
    tokens.set(v.name, JSON.stringify(r.tokens));
    cpuRates[variants.indexOf(v)]!.push(r.tokens.length / r.cpuSeconds);
    return r.tokens.length / r.seconds;
  });
  const cpu = cpuRates.map(summarize);
  const same = variants.every((v) => tokens.get(v.name) === tokens.get(variants[0]!.name));
  variants.forEach((v, i) => decodeRows.push(`| ${ck.name} | ${v.name} | ${fmtSummary(s[i]!)} tok/s | ${fmtSummary(cpu[i]!)} tok/s | ${i === 0 ? "" : `${ratio(s[0]!, s[i]!)} / ${ratio(cpu[0]!, cpu[i]!)}`} | ${v.name === "gcc -O3" ? "≥ 1.0×" : v.name.startsWith("gcc -Ofast") ? "≥ 0.5×" : ""} |`));
  decodeRows.push(`| ${ck.name} | greedy tokens identical across all rows | ${same ? "yes" : "NO"} (${ck.steps} positions, prompt of ${ck.prompt.length}) | | | |`);
  const o3 = variants.findIndex((v) => v.name === "gcc -O3"), of = variants.findIndex((v) => v.name.startsWith("gcc -Ofast"));
  const met = (a: Summary, b: Summary, k: number) => (a.median >= k * b.median ? "met" : "not met");
  decodeFacts.push(`On the ${ck.name.split(" (")[0]}, the SIMD kernels make the engine ${ratio(s[0]!, s[1]!)} as fast as its TS path (wall clock)` +
    (o3 >= 0 ? `; against the C it reaches ${ratio(s[0]!, s[o3]!)} of gcc -O3 by wall clock and ${ratio(cpu[0]!, cpu[o3]!)} by CPU time (target ≥ 1.0×: ${met(s[0]!, s[o3]!, 1)} and ${met(cpu[0]!, cpu[o3]!, 1)}), and ${ratio(s[0]!, s[of]!)} and ${ratio(cpu[0]!, cpu[of]!)} of -Ofast -march=native (target ≥ 0.5×: ${met(s[0]!, s[of]!, 0.5)} and ${met(cpu[0]!, cpu[of]!, 0.5)})` : "") +
    `; greedy tokens ${same ? "identical" : "DIFFER"}.`);
}
useKernels(true);

// ── 2–5. serving (committed model); skipped with BENCH_ONLY ──
const servingRows: string[] = [], servingFacts: string[] = [];
let servingDtype = "";
let bf16Drift: { same: number; streams: number; maxDiff: number; maxLogit: number; argmax: number; positions: number } | null = null;
if (part("serving")) await servingBench();

async function servingBench(): Promise<void> {
// ── 2. single-stream decode, one adapter vs base (committed model) ──
async function decodeTokensPerSec(m: Model, adapter: LoraAdapter | null, steps: number): Promise<number> {
  const sched = new BatchScheduler(m, tokenizer, { maxBatch: 1, maxSequences: 1 });
  const done = sched.submit([tokenizer.bos ?? 0, 5, 6], adapter, { maxTokens: steps, temperature: 0 }, false);
  const t0 = now();
  sched.drain();
  const sec = (now() - t0) / 1000;
  return (await done).tokens.length / sec;
}
// Every adapter of these rows is resident as the inference service's AdapterCache holds its
// adapters: in AdapterSlots of the process's adapter dtype (ENGINE_ADAPTER_DTYPE, bf16 unless
// set), placed before the rounds (a cold load's cost is the cold-load row's)
const slots = new AdapterSlots({ capBytes: 256 * 2 ** 20 });
servingDtype = slots.dtype;
const placed = (a: LoraAdapter) => { if (!slots.place(a)) throw new Error(`adapter ${a.id} did not fit the kernel heap's slots`); return a; };
const N1 = QUICK ? 60 : c.maxSeqLen - 4;
await decodeTokensPerSec(model, null, 32);
const single: Array<[string, LoraAdapter | null]> = [["base", null], ["r=8 on q,v", placed(mkLora(c, 1))], ["r=16 on all 7 projections", placed(mkLora(c, 2, 16, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))]];
const singleRes = await interleavedAsync(single, ROUNDS * 2, ([, a]) => decodeTokensPerSec(model, a, N1));

// ── 3. 64 concurrent streams over 0 / 1 / 64 / 1,024 adapters, and the same requests one at a time ──
// Every variant serves the same requests (same prompt, temperature 0.8, same seeds) through the
// scheduler and counts the tokens it actually generated. EOS does not end a stream here: with it,
// a variant whose sampled text ended sooner did less decoding per prefill, so the rates compared
// different work (the base ended early more often, and 1 adapter ran at 1.42× of it). Each
// variant runs once before the rounds. A round runs each adapter variant right beside a base run
// of its own (base first in even rounds, second in odd ones; the variants' order rotates), so
// each ratio is also taken per pair, between two runs a second apart: the base's rate swings
// by half from round to round with the other work on this machine, which a ratio of medians
// over separate runs carries into the ratio. The 1,024-adapter variant gives every request its
// own adapter, a different slice of the 1,024 each round.
const pool = Array.from({ length: 1024 }, (_, i) => placed(mkLora(c, 100 + i)));
const REQ = QUICK ? 64 : 128, TOK = QUICK ? 8 : 32, SERVE_ROUNDS = QUICK ? 2 : 12; // shorter rounds, more of them: pairs a second apart
const prompt = tokenizer.encode("The State of the Union");
const noEos = { ...tokenizer, eos: null }; // every stream decodes exactly TOK tokens
let serveRound = 0;
// Kernel threads: the inference service runs the engine's default (ENGINE_THREADS, else the core
// count), so the 64-stream comparison runs at that count and, beside it, at 1 thread; base and
// adapters always at the same count. BENCH_SERVE_THREADS=2,1 names the counts (the first is the
// headline). CPU time: with 1 thread the serving thread's own; with workers the whole process's
// (the workers' slices are the same work the one thread does alone).
const SERVE_THREADS = (process.env.BENCH_SERVE_THREADS ?? [...new Set([defaultThreads(), 1])].join(",")).split(",").map((x) => {
  const n = Number(x.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_SERVE_THREADS takes positive integers, got ${JSON.stringify(x)}`);
  return n;
});
const HEAD_T = SERVE_THREADS[0]!;
for (const t of SERVE_THREADS) if (t > 1) { setThreads(t); await threadCount().pool?.whenReady(); setThreads(1); } // workers started before the rounds
const generated = new Map<string, number[]>(), serveCpu = new Map<string, number[]>();
type StreamVariant = { n: number; seqs: number; threads: number };
const keyOf = (v: StreamVariant) => `${v.n}/${v.seqs}/${v.threads}`;
async function serve(v: StreamVariant): Promise<number> {
  const s = new BatchScheduler(model, noEos, { maxBatch: 64, maxSequences: v.seqs, prefillChunk: 8 });
  const ps: Array<Promise<{ tokens: number[] }>> = [];
  const offset = v.n === 1024 ? (serveRound % (1024 / REQ)) * REQ : 0;
  for (let i = 0; i < REQ; i++) ps.push(s.submit(prompt, v.n === 0 ? null : pool[(offset + i) % v.n]!, { maxTokens: TOK, temperature: 0.8, seed: i }, false));
  gc?.(); // a collection of what earlier variants left (1,024 adapters were just made) lands before the clock, not in one variant's run
  setThreads(v.threads);
  const cpuNow = () => { const u = v.threads === 1 ? process.threadCpuUsage() : process.cpuUsage(); return u.user + u.system; };
  const t0 = now(), c0 = cpuNow();
  try { s.drain(); } finally { setThreads(1); }
  const sec = (now() - t0) / 1000, cu = cpuNow() - c0;
  const n = (await Promise.all(ps)).reduce((k, r) => k + r.tokens.length, 0);
  const key = keyOf(v);
  generated.set(key, [...(generated.get(key) ?? []), n]);
  serveCpu.set(key, [...(serveCpu.get(key) ?? []), n / (cu / 1e6)]);
  return n / sec;
}
// per thread count: the base, then 1, 64 and 1,024 adapters; last, the requests one at a time
const PER_T = 4;
const streamVariants: StreamVariant[] = [...SERVE_THREADS.flatMap((t) => [0, 1, 64, 1024].map((n) => ({ n, seqs: 64, threads: t }))), { n: 0, seqs: 1, threads: HEAD_T }];
const ONE = streamVariants.length - 1;
for (const v of streamVariants) await serve(v); // warm-up of every path
generated.clear();
serveCpu.clear();
const aggXs = streamVariants.map(() => [] as number[]);
// per pair: the adapter variant's rate over its own base run's (same thread count), by wall clock and by CPU
const pairWall = streamVariants.map(() => [] as number[]), pairCpu = streamVariants.map(() => [] as number[]);
const lastCpu = (v: StreamVariant) => serveCpu.get(keyOf(v))!.at(-1)!;
const paired = [1, 2, 3]; // the adapter variants within a thread count, each paired with a base run
for (let r = 0; r < SERVE_ROUNDS; r++, serveRound++) {
  for (let q = 0; q < SERVE_THREADS.length; q++) {
    const ti = (q + r) % SERVE_THREADS.length; // the thread counts' order rotates too
    for (let k = 0; k < paired.length; k++) {
      const i = ti * PER_T + paired[(k + r) % paired.length]!, v = streamVariants[i]!, bi = ti * PER_T, b = streamVariants[bi]!;
      let base: number, cb: number, x: number, cx: number;
      if (r % 2 === 0) { base = await serve(b); cb = lastCpu(b); x = await serve(v); cx = lastCpu(v); }
      else { x = await serve(v); cx = lastCpu(v); base = await serve(b); cb = lastCpu(b); }
      aggXs[bi]!.push(base);
      aggXs[i]!.push(x);
      pairWall[i]!.push(x / base);
      pairCpu[i]!.push(cx / cb);
    }
  }
  aggXs[ONE]!.push(await serve(streamVariants[ONE]!));
}
const agg = aggXs.map(summarize);
const pairOf = (i: number) => ({ wall: summarize(pairWall[i]!), cpu: summarize(pairCpu[i]!) });
const fmtRatio = (s: Summary) => `${s.median.toFixed(3)}× (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
const baseAgg = agg[0]!, oneAtATime = agg[ONE]!;
const cpuOf = (v: StreamVariant) => summarize(serveCpu.get(keyOf(v))!);
const tokensOf = (v: StreamVariant) => { const xs = generated.get(keyOf(v)) ?? []; return xs.every((x) => x === xs[0]) ? fmt(xs[0] ?? 0) : xs.map(fmt).join("/"); };
const threadsWord = (t: number) => `${t} kernel thread${t > 1 ? "s" : ""}`;
const cpuWord = (t: number) => (t === 1 ? "serving-thread CPU" : "process CPU");

// ── 4. cold loads from disk (p50, p99) and the cost of a hit ──
const disk = join(work, "adapters");
const NCOLD = QUICK ? 50 : 300;
for (let i = 0; i < NCOLD; i++) saveAdapter(join(disk, `cold${i}`), mkLora(c, 5000 + i));
const cache = new AdapterCache({ model: c, budgetBytes: 1 << 30, diskDir: disk });
for (let i = 0; i < NCOLD; i++) (await cache.acquire(`cold${i}`)).release();
const HITS = 100_000;
let t0 = now();
for (let i = 0; i < HITS; i++) (await cache.acquire(`cold${i % NCOLD}`)).release();
const hitUs = ((now() - t0) * 1000) / HITS;
const adapterKb = (cache.residentBytes / NCOLD / 1024).toFixed(1);

// ── 5. 10,000 registered adapters under a fixed memory budget ──
const NREG = QUICK ? 1000 : 10_000;
const regDir = join(work, "registry");
const small = (i: number) => createLora(c, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj"] }, { id: `r${i}`, seed: i, randomB: true });
const oneSize = (() => { const a = small(0); return a.layers.reduce((s, l) => s + Object.values(l).reduce((x, p) => x + (p.A.length + p.B.length) * 4, 0), 0); })();
for (let i = 0; i < NREG; i++) saveAdapter(join(regDir, `r${i}`), small(i));
const budget = 256 * oneSize;
const regCache = new AdapterCache({ model: c, budgetBytes: budget, diskDir: regDir });
const sched = new BatchScheduler(model, tokenizer, { maxBatch: 64, maxSequences: 64 });
let served = 0, maxResident = 0;
const order = Array.from({ length: NREG }, (_, i) => (i * 7919) % NREG); // every adapter once, scattered
t0 = now();
const rssBefore = process.memoryUsage().rss;
for (let k = 0; k < NREG; k += 64) {
  await Promise.all(order.slice(k, k + 64).map(async (i) => {
    const lease = await regCache.acquire(`r${i}`);
    maxResident = Math.max(maxResident, regCache.residentBytes);
    try {
      const r = await sched.submit([1, 2], lease.adapter, { maxTokens: 1 });
      if (r.tokens.length === 1) served++;
    } finally {
      lease.release();
    }
  }));
}
const regSec = (now() - t0) / 1000;
const rssAfter = process.memoryUsage().rss;

// ── 6. what bf16 residency changes (when the slots are bf16): 64 adapters of the pool and their
// twins (the same seeds) resident in f32, 64 greedy streams each way, and one teacher-forced
// forward over each stream's prompt and f32 answer, both ways ──
if (slots.dtype === "bf16") {
  const f32Slots = new AdapterSlots({ capBytes: 64 * 2 ** 20, dtype: "f32" });
  const twins = pool.slice(0, 64).map((a, i) => [a, mkLora(c, 100 + i)] as const);
  for (const [, t] of twins) if (!f32Slots.place(t)) throw new Error(`adapter ${t.id} did not fit the f32 slots`);
  const greedy = async (ads: LoraAdapter[]) => {
    const s = new BatchScheduler(model, noEos, { maxBatch: 64, maxSequences: 64 });
    const ps = ads.map((a) => s.submit(prompt, a, { maxTokens: TOK, temperature: 0 }, false));
    s.drain();
    return (await Promise.all(ps)).map((r) => r.tokens);
  };
  const tb = await greedy(twins.map(([a]) => a)), tf = await greedy(twins.map(([, t]) => t));
  const d = { same: 0, streams: twins.length, maxDiff: 0, maxLogit: 0, argmax: 0, positions: 0 };
  const logitsOf = (ids: number[], a: LoraAdapter) => { const kv = createKvCache(c); return Float32Array.from(forward(model, ids.map((token, pos) => ({ token, pos, kv, adapter: a })), createRunState(c, ids.length))); };
  twins.forEach(([a, t], i) => {
    if (tb[i]!.join() === tf[i]!.join()) d.same++;
    const ids = [...prompt, ...tf[i]!].slice(0, c.maxSeqLen), lb = logitsOf(ids, a), lf = logitsOf(ids, t), V = c.vocabSize;
    for (let p = 0; p < ids.length; p++) {
      let ab = 0, af = 0;
      for (let v = 0; v < V; v++) {
        const k = p * V + v;
        d.maxDiff = Math.max(d.maxDiff, Math.abs(lb[k]! - lf[k]!));
        d.maxLogit = Math.max(d.maxLogit, Math.abs(lf[k]!));
        if (lb[k]! > lb[p * V + ab]!) ab = v;
        if (lf[k]! > lf[p * V + af]!) af = v;
      }
      d.positions++;
      if (ab !== af) d.argmax++;
    }
  });
  for (const [, t] of twins) f32Slots.release(t);
  bf16Drift = d;
}


for (const [i, r] of singleRes.entries()) if (i > 0) servingRows.push(`| single-stream greedy decode, adapter ${single[i]![0]} vs base | ${fmtSummary(r)} vs ${fmtSummary(singleRes[0]!)} tok/s | ${ratio(r, singleRes[0]!, 3)} | overhead ≤ 10% |`);
for (const [i, v] of streamVariants.entries()) if (i < ONE && i % PER_T > 0) {
  const b = streamVariants[i - (i % PER_T)]!, bAgg = agg[i - (i % PER_T)]!;
  servingRows.push(`| 64 streams, ${v.n === 1024 ? "1,024 adapters (every request its own)" : `${v.n} adapter${v.n > 1 ? "s" : ""}`} vs 64 streams on the base, ${threadsWord(v.threads)} each${v.threads === defaultThreads() ? " (the engine's default)" : ""}; ${tokensOf(v)} vs ${tokensOf(b)} tokens generated a run | wall ${fmtSummary(agg[i]!)} vs ${fmtSummary(bAgg)} tok/s; ${cpuWord(v.threads)} ${fmtSummary(cpuOf(v))} vs ${fmtSummary(cpuOf(b))} tok/s | per pair, median (min–max) of ${pairWall[i]!.length}: wall ${fmtRatio(pairOf(i).wall)}, CPU ${fmtRatio(pairOf(i).cpu)}; ratio of medians ${ratio(agg[i]!, bAgg, 3)} / ${ratio(cpuOf(v), cpuOf(b), 3)} | ${v.n === 1024 && v.threads === HEAD_T ? "≥ 0.95×" : ""} |`);
}
servingRows.push(`| 64 streams vs the same ${REQ} requests one at a time (base, ${threadsWord(HEAD_T)}; both prefill and sample at 0.8) | ${fmtSummary(baseAgg)} vs ${fmtSummary(oneAtATime)} tok/s | ${ratio(baseAgg, oneAtATime)} | (batching gain) |`);
servingRows.push(`| cold adapter load from disk (${NCOLD} adapters, ${adapterKb} KiB each) | p50 ${cache.loadLatencyPercentile(50).toFixed(2)} ms, p99 ${cache.loadLatencyPercentile(99).toFixed(2)} ms | hit/cold p50 = ${(hitUs / 1000 / cache.loadLatencyPercentile(50)).toFixed(4)} | |`);
servingRows.push(`| cache hit (acquire + release, mean of ${fmt(HITS)}) | ${hitUs.toFixed(2)} µs | | |`);
servingRows.push(`| ${fmt(NREG)} registered adapters, budget ${(budget / 1024).toFixed(0)} KiB (256 adapters) | ${served}/${NREG} served in ${regSec.toFixed(1)} s, ${regCache.metrics.evictions} evictions | max resident / budget = ${(maxResident / budget).toFixed(3)} | every request served, ≤ 1.0 |`);
if (bf16Drift) servingRows.push(`| adapters resident in bf16 vs the same adapters in f32 (${bf16Drift.streams} of the pool, r=8 on q,v: B drawn larger than training makes it) | greedy streams of ${TOK} tokens identical: ${bf16Drift.same} of ${bf16Drift.streams}; teacher-forced over prompt and answer, ${fmt(bf16Drift.positions)} positions: argmax differs at ${bf16Drift.argmax}, max abs logit difference ${bf16Drift.maxDiff.toPrecision(2)} (largest abs logit ${bf16Drift.maxLogit.toFixed(1)}) | | |`);
servingRows.push(`| process RSS during the registry run | ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB | | |`);
const over = (i: number) => ((1 - singleRes[i]!.median / singleRes[0]!.median) * 100).toFixed(1);
if (bf16Drift) servingFacts.push(`Every adapter here is resident in bf16 (the default; f32 arithmetic): against the same ${bf16Drift.streams} adapters resident in f32, ${bf16Drift.same} of ${bf16Drift.streams} greedy streams are identical${bf16Drift.same === bf16Drift.streams ? "" : ` (${bf16Drift.streams - bf16Drift.same} differ${bf16Drift.streams - bf16Drift.same === 1 ? "s" : ""})`}, the argmax differs at ${bf16Drift.argmax} of ${fmt(bf16Drift.positions)} teacher-forced positions, and no logit moves by more than ${bf16Drift.maxDiff.toPrecision(2)}.`);
else servingFacts.push(`Every adapter here is resident in ${servingDtype} (ENGINE_ADAPTER_DTYPE).`);
servingFacts.push(`Single-stream adapter overhead: ${over(1)}% for rank 8 on q and v, ${over(2)}% for rank 16 on all seven projections (target ≤ 10%: ${Number(over(1)) <= 10 ? "met" : "not met"} and ${Number(over(2)) <= 10 ? "met" : "not met"}).`);
const factsAt = (ti: number): string => {
  const t = SERVE_THREADS[ti]!, i = ti * PER_T + 3, w = pairOf(i).wall, cp = pairOf(i).cpu;
  const m = agg[i]!.median / agg[ti * PER_T]!.median, mc = cpuOf(streamVariants[i]!).median / cpuOf(streamVariants[ti * PER_T]!).median;
  return `at ${threadsWord(t)}, 64 streams over 1,024 distinct adapters run at ${fmtRatio(w)} of 64 streams on the base by wall clock and ${fmtRatio(cp)} by ${t === 1 ? "the serving thread's" : "the process's"} CPU time, median (min–max) of ${pairWall[i]!.length} pairs of adjacent runs (target ≥ 0.95×: ${w.median >= 0.95 ? "met" : "not met"} and ${cp.median >= 0.95 ? "met" : "not met"}); the ratio of the medians of all runs is ${m.toFixed(3)}× and ${mc.toFixed(3)}×; over 1 and 64 adapters, per pair by wall clock: ${fmtRatio(pairOf(ti * PER_T + 1).wall)} and ${fmtRatio(pairOf(ti * PER_T + 2).wall)}`;
};
const above1 = streamVariants.some((v, i) => i < ONE && i % PER_T > 0 && pairOf(i).wall.median > 1);
servingFacts.push(`Headline (${threadsWord(HEAD_T)}${HEAD_T === defaultThreads() ? `, the engine's default by ${process.env.ENGINE_THREADS ? "ENGINE_THREADS" : "the core count"}, which the inference service runs` : ", named by BENCH_SERVE_THREADS"}): ${factsAt(0).replace(/^at [^,]+, /, "")}.` +
  SERVE_THREADS.slice(1).map((_, k) => ` Beside it, ${factsAt(k + 1)}.`).join("") +
  (SERVE_THREADS.length > 1 ? ` The base itself runs at ${SERVE_THREADS.map((t, k) => `${fmtNum(agg[k * PER_T]!.median)} tok/s at ${threadsWord(t)}`).join(" and ")} (wall, medians).` : "") +
  ` Every variant generated the same number of tokens (EOS ignored), ${SERVE_ROUNDS} rounds, a collection before each run.` +
  (above1 ? " An adapter cannot make a batch faster: where a ratio here is above 1, it measures which variant got the cores, not the adapters' cost." : ""));
servingFacts.push(`Batching 64 streams serves the same requests ${ratio(baseAgg, oneAtATime)} as fast as one at a time.`);
servingFacts.push("Cold loads read from the OS page cache (the files were just written); a first read from a cold disk or the blob store adds that tier's latency.");
}

// ── 6. LoRA training vs PyTorch, one thread, the shape of the issue: 64 wide, 5 layers, r=8 on q,v, batch 8 × 256 ──
// stories260K's config (64 wide, 5 layers, 8/4 heads, SwiGLU 172, vocab 512) with seeded random
// weights, saved in HF layout so test/engine_torch_reference.py reads the same model. Both sides
// do the same work: 8 rows of one document each ([BOS] + 254 tokens = 255 positions, so the
// engine's block-diagonal mask is the plain causal mask PyTorch uses), loss on every position
// (no prompt tokens to leave out), r=8 on q and v with dropout 0, base weights frozen, the 8
// rows' gradients accumulated into one AdamW step. Each round runs 2 steps and times the second
// (the first allocates and warms up, on both sides), by wall clock and by process CPU time.
const trainRows: string[] = [], trainFacts: string[] = [], profileRows: string[] = [];
let trainHead = "";
if (part("train")) await trainBench();

async function trainBench(): Promise<void> {
const shape260K: Config = { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, maxSeqLen: 512, ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: true };
const trainModelDir = join(work, "train-model");
saveHfModel(trainModelDir, createModel(shape260K, randomWeights(shape260K, new Rng(11)), "260k"));
const trainModel = loadHfModel(trainModelDir).model;
const B = 8, T = 256;
const rng = new Rng(3);
const trainSeqs = packDocuments(Array.from({ length: 64 }, () => ({ tokens: Int32Array.from({ length: T - 1 }, () => Math.floor(rng.next() * 512)) })), T, { bos: 0, eos: null });
const rowLen = trainSeqs[0]!.tokens.length; // 255 positions a row
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
/** Tokens/s of the second of `steps` optimizer steps, by wall clock and CPU time (threads included). */
function engineTrainTps(steps = 2): { wall: number; cpu: number } {
  const a = createLora(trainModel.config, { r: 8, alpha: 16, dropout: 0, targets: ["q_proj", "v_proj"] }, { seed: 1 });
  let mark = { w: 0, c: 0 }, res = { wall: 0, cpu: 0 };
  train(trainModel, a, { train: trainSeqs, eval: [] }, { steps, batchSize: B, evalEvery: 0 }, (e) => {
    if (e.type !== "step") return;
    const w = now(), cp = cpuNow();
    if (e.step === steps) res = { wall: (B * rowLen) / ((w - mark.w) / 1000), cpu: (B * rowLen) / (cp - mark.c) };
    mark = { w, c: cp };
  });
  return res;
}
const python = ["/usr/bin/python3", "python3"].find((p) => spawnSync(p, ["-c", "import torch"]).status === 0);
const adapterDir = join(work, "train-adapter");
saveAdapter(adapterDir, createLora(trainModel.config, { r: 8, alpha: 16, dropout: 0, targets: ["q_proj", "v_proj"] }, { seed: 1 }));
let torchInfo: { torch: string; blas: string[] } | null = null;
type TorchOp = { op: string; share: number; ms_per_step: number };
function torchRun(mode: string[], steps = 1): { wall: number; cpu: number; ops: TorchOp[] | null } {
  const py = spawnSync(python!, [join(import.meta.dirname, "..", "test", "engine_torch_reference.py"), "bench", trainModelDir, adapterDir, String(steps), String(B), String(rowLen), "1", ...mode], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" } });
  if (py.status !== 0) throw new Error(`PyTorch reference failed: ${py.stderr}`);
  const r = JSON.parse(py.stdout) as { tokens_per_sec: number; tokens_per_cpu_sec: number; torch: string; blas: string[]; ops: TorchOp[] | null };
  torchInfo = r;
  return { wall: r.tokens_per_sec, cpu: r.tokens_per_cpu_sec, ops: r.ops };
}
engineTrainTps(); // warm-up
if (CORES > 1) { setThreads(CORES); await threadCount().pool?.whenReady(); setThreads(1); } // workers started before the rounds
const trainVariants: Array<{ name: string; run: () => { wall: number; cpu: number } }> = [
  { name: "engine, WASM SIMD", run: () => { useKernels(true); return engineTrainTps(); } },
  ...(CORES > 1 ? [{ name: `engine, WASM SIMD, ${CORES} threads`, run: () => { setThreads(CORES); try { return engineTrainTps(); } finally { setThreads(1); } } }] : []),
  { name: "engine, TS reference path", run: () => { useKernels(false); try { return engineTrainTps(); } finally { useKernels(true); } } },
  ...(python ? [
    { name: "PyTorch, one row at a time (as the engine)", run: () => torchRun([]) },
    { name: "PyTorch, the 8 rows as one batch", run: () => torchRun(["batched"]) },
  ] : []),
];
const TRAIN_ROUNDS = QUICK ? 1 : 5;
const cpuXs = trainVariants.map(() => [] as number[]);
const wallRes = interleaved(trainVariants.map((v, i) => ({ ...v, i })), TRAIN_ROUNDS, (v) => { const r = v.run(); cpuXs[v.i]!.push(r.cpu); return r.wall; });
const cpuRes = cpuXs.map(summarize);
const blasOf = (libs: string[]) => (libs.some((l) => /openblas/i.test(l)) ? "OpenBLAS" : libs.some((l) => /blas/i.test(l)) ? "reference BLAS" : "unknown BLAS") + (libs.length ? ` (${libs.join(", ")})` : "");
trainHead = `**LoRA training**, one thread, stories260K's shape (64 wide, 5 layers, 8/4 heads, vocab 512) with random weights, r=8 on q and v, batch ${B} rows × ${rowLen} positions, the second of 2 steps timed in each of ${TRAIN_ROUNDS} interleaved rounds` +
  (torchInfo ? `; PyTorch ${(torchInfo as { torch: string }).torch} with ${blasOf((torchInfo as { blas: string[] }).blas)}, 1 thread.` : "; PyTorch: python3-torch not installed here (apt-get install python3-torch libopenblas0), rows skipped.") +
  " CPU time is the whole process's (process.cpuUsage; Python's time.process_time), so it counts every thread and leaves out the time other processes held the cores." +
  " Both sides do the same work: each row is one document ([BOS] and 254 tokens), so the engine's block-diagonal mask is PyTorch's causal mask; the loss is on every position on both (there are no prompt tokens for completion-only loss to leave out); dropout 0, base weights frozen, the rows' gradients accumulated into one AdamW step (the engine also clips the gradient norm, PyTorch's AdamW decays weights by 0.01: both cost next to nothing)." +
  " The engine runs the rows one at a time, as does the PyTorch reference the target names; the batched PyTorch row shows what batching the rows buys PyTorch (fewer, larger ops).";
const torchIdx = trainVariants.findIndex((v) => v.name.startsWith("PyTorch, one row")), batchIdx = trainVariants.findIndex((v) => v.name.startsWith("PyTorch, the"));
for (const [i, v] of trainVariants.entries())
  trainRows.push(`| ${v.name} | ${fmtSummary(wallRes[i]!)} tok/s | ${fmtSummary(cpuRes[i]!)} tok/s | ${i === 0 ? "" : `${ratio(wallRes[0]!, wallRes[i]!)} / ${ratio(cpuRes[0]!, cpuRes[i]!)}`} | ${i === torchIdx ? "≥ 1.0×" : ""} |`);
const met = (r: number) => (r >= 1 ? "met" : "not met");
if (torchIdx >= 0) {
  const w = wallRes[0]!.median / wallRes[torchIdx]!.median, cp = cpuRes[0]!.median / cpuRes[torchIdx]!.median;
  const wb = wallRes[0]!.median / wallRes[batchIdx]!.median, cb = cpuRes[0]!.median / cpuRes[batchIdx]!.median;
  trainFacts.push(`LoRA training runs at ${w.toFixed(2)}× of PyTorch by wall clock and ${cp.toFixed(2)}× by CPU time, one thread each, PyTorch running the rows one at a time as the engine does (target ≥ 1.0×: ${met(w)} and ${met(cp)}); against PyTorch with the 8 rows as one batch, ${wb.toFixed(2)}× and ${cb.toFixed(2)}× (${met(wb)} and ${met(cb)}).`);
}
const tsIdx = trainVariants.findIndex((v) => v.name === "engine, TS reference path"), thIdx = trainVariants.findIndex((v) => v.name.endsWith("threads"));
trainFacts.push(`The SIMD kernels make training ${ratio(wallRes[0]!, wallRes[tsIdx]!)} as fast as the TS path by wall clock (${ratio(cpuRes[0]!, cpuRes[tsIdx]!)} by CPU time)` +
  (thIdx >= 0 ? `; ${CORES} threads run ${ratio(wallRes[thIdx]!, wallRes[0]!)} as fast as one by wall clock, their CPU time per token ${ratio(cpuRes[0]!, cpuRes[thIdx]!)} one thread's.` : "."));

// where one step's CPU time goes, by op, on each side (after the rounds: the profiler slows what it watches)
const PROFILE_STEPS = QUICK ? 1 : 3;
const eng = await profileSteps(() => { engineTrainTps(PROFILE_STEPS); }, PROFILE_STEPS);
const tor = python ? torchRun(["profile"], PROFILE_STEPS) : null;
const tOps = tor?.ops ?? [];
const rowsN = Math.max(eng.ops.length, tOps.length);
profileRows.push(`Where one step's CPU time goes (ms per step; the engine by a V8 sampling profile of ${PROFILE_STEPS} steps, PyTorch by torch.profiler's self CPU time per aten op over ${PROFILE_STEPS} steps, each side's shares scaled to its own process CPU time per step: ${eng.cpuMsPerStep.toFixed(0)} ms for the engine${tor ? `, ${((B * rowLen) / tor.cpu * 1000).toFixed(0)} ms for PyTorch` : ""}). The profilers add their own overhead, so these totals run above the rounds' figures.`);
profileRows.push("");
profileRows.push("| engine op | ms / step | share | PyTorch op | ms / step | share |");
profileRows.push("|---|---:|---:|---|---:|---:|");
for (let i = 0; i < rowsN; i++) {
  const e = eng.ops[i], t = tOps[i];
  profileRows.push(`| ${e ? e.op : ""} | ${e ? e.msPerStep.toFixed(1) : ""} | ${e ? `${(e.share * 100).toFixed(1)}%` : ""} | ${t ? t.op : ""} | ${t ? t.ms_per_step.toFixed(1) : ""} | ${t ? `${(t.share * 100).toFixed(1)}%` : ""} |`);
}
const attE = eng.ops.filter((o) => o.op.startsWith("attention")).reduce((n, o) => n + o.msPerStep, 0);
const mmE = eng.ops.filter((o) => o.op.startsWith("matmul")).reduce((n, o) => n + o.msPerStep, 0);
const mmT = tOps.filter((o) => o.op.startsWith("matmul")).reduce((n, o) => n + o.ms_per_step, 0), smT = tOps.filter((o) => o.op.startsWith("softmax")).reduce((n, o) => n + o.ms_per_step, 0);
trainFacts.push(`By the profiles, the engine spends ${attE.toFixed(0)} ms a step in attention and ${mmE.toFixed(0)} ms in the model's matmuls (${((attE + mmE) / eng.cpuMsPerStep * 100).toFixed(0)}% of its step)` +
  (tor ? `; PyTorch spends ${mmT.toFixed(0)} ms in BLAS matmuls (attention's included) and ${smT.toFixed(0)} ms in softmax, and ${(tOps.filter((o) => !o.op.startsWith("matmul") && !o.op.startsWith("softmax")).reduce((n, o) => n + o.ms_per_step, 0)).toFixed(0)} ms in element-wise ops, views and its autograd engine.` : "."));
}
rmSync(work, { recursive: true, force: true });

// ── report ──
log(`Measured ${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model ?? "cpu"} (${cpus().length} cores, shared with other work), Node ${process.version}, one thread unless a row says otherwise, kernels: ${kernelPath()}${QUICK ? ", QUICK mode" : ""}${ONLY ? `, only: ${[...ONLY].join(", ")}` : ""}.`);
log(`Load average (1 min) ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end on ${cpus().length} cores: other processes shared the CPU, so absolute rates are low and wide; the ratios, taken between interleaved rounds, are what to read. The run took ${((performance.now() - startedAt) / 60000).toFixed(1)} minutes.`);
log(`Every figure is the median of interleaved rounds with its min–max in brackets; every ratio is between medians of this run. Throughput counts tokens actually produced.`);
/** A markdown table after a blank line: the header from its columns, then the rows as they are. */
function logTable(columns: string[], rows: string[]): void {
  log("");
  log(`| ${columns.join(" | ")} |`);
  log(`|${"---|".repeat(columns.length)}`);
  for (const r of rows) log(r);
}
if (part("decode")) {
  log("");
  log("**Single-stream greedy decode on llama2.c checkpoints**, engine vs `bench/llama2c_forward.c` (run.c's forward in one file), same checkpoint, prompt and positions, " +
    ("builds" in cBuild ? `C built by this run with ${cBuild.builds.map((b) => `\`${b.name}\``).join(" and ")}` : `C rows skipped: ${cBuild.skipped}`) + `; ${ROUNDS} rounds. ` +
    "CPU time is the decoding thread's own (the engine's main thread, `process.threadCpuUsage`; the C's one thread, `CLOCK_PROCESS_CPUTIME_ID`), after a warm-up: it leaves out the time other processes held the core, which the wall clock does not.");
  logTable(["checkpoint", "implementation", "decode, wall clock", "decode, CPU time", "engine SIMD / this (wall / CPU)", "target"], decodeRows);
}
if (part("serving")) {
  log("");
  log("**Serving** (the committed base model: " + `${c.dim} wide, ${c.nLayers} layers, ${c.nHeads}/${c.nKvHeads} heads, vocab ${c.vocabSize}, fp32; every adapter resident in the kernel heap in ${servingDtype}, as the inference service's adapter cache holds them by default: ENGINE_ADAPTER_DTYPE).`);
  logTable(["benchmark", "result", "ratio (wall clock / CPU time where both)", "target"], servingRows);
}
if (part("train")) {
  log("");
  log(trainHead);
  logTable(["implementation", "training, wall clock", "training, CPU time", "engine SIMD / this (wall / CPU)", "target"], trainRows);
  log("");
  for (const r of profileRows) log(r);
}
log("");
log("Reading the figures (computed from this run):");
for (const f of [...decodeFacts, ...servingFacts, ...trainFacts]) log(`- ${f}`);

// write the Engine section of docs/benchmarks.md, leaving other sections alone
if (!QUICK && !ONLY) {
  const path = join(import.meta.dirname, "..", "docs", "benchmarks.md");
  mkdirSync(join(import.meta.dirname, "..", "docs"), { recursive: true });
  const section = `## Engine\n\n<!-- written by npm run bench:engine (bench/engine.ts); edit the script, not this section -->\n\n${lines.join("\n")}\n`;
  let doc = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n\n";
  const re = /## Engine\n[\s\S]*?(?=\n## |$)/;
  doc = re.test(doc) ? doc.replace(re, section.trimEnd() + "\n") : doc.trimEnd() + "\n\n" + section;
  writeFileSync(path, doc);
  console.log(`wrote ${path}`);
}
