// Single-stream greedy decode: the engine against bench/llama2c_forward.c (run.c's forward in
// one C file) on the same llama2.c checkpoint and prompt, the C built here by the machine's
// gcc at -O3 and at -Ofast -march=native. Each side decodes the same number of positions;
// the benchmark first checks that all of them produced the same tokens.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { createKvCache, createRunState, forward, type Model } from "../containers/engine/index.ts";

export interface CBuild { name: string; flags: string[]; binary: string }

/** Compile the C anchor at each flag set; null with the reason when there is no compiler. */
export function buildC(outDir: string): { builds: CBuild[] } | { skipped: string } {
  const cc = ["gcc", "cc"].find((c) => spawnSync(c, ["--version"]).status === 0);
  if (!cc) return { skipped: "no C compiler on this machine (apt-get install gcc); the C rows are skipped" };
  const src = join(import.meta.dirname, "llama2c_forward.c");
  const builds: CBuild[] = [];
  for (const [name, flags] of [["gcc -O3", ["-O3"]], ["gcc -Ofast -march=native", ["-Ofast", "-march=native"]]] as const) {
    const binary = join(outDir, `fwd${flags.join("")}`);
    const r = spawnSync(cc, [...flags, "-o", binary, src, "-lm"], { encoding: "utf8" });
    if (r.status !== 0) return { skipped: `${cc} ${flags.join(" ")} failed: ${r.stderr.trim().split("\n")[0]}` };
    builds.push({ name, flags: [...flags], binary });
  }
  return { builds };
}

/** One decode run: tokens, wall seconds, and the CPU seconds the decoding process spent. */
export interface DecodeRun { tokens: number[]; seconds: number; cpuSeconds: number }

/** The C anchor's tokens and decode seconds (wall and CPU) for `steps` positions from `prompt`. */
export function runC(build: CBuild, checkpoint: string, prompt: number[], steps: number): DecodeRun {
  const r = spawnSync(build.binary, [checkpoint, String(steps), ...prompt.map(String)], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${build.name}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { tokens: number[]; seconds: number; cpu_seconds: number };
  return { tokens: j.tokens, seconds: j.seconds, cpuSeconds: j.cpu_seconds };
}

/**
 * The engine doing what the C does: prompt forced, then argmax, one position at a time. CPU
 * seconds are the decoding thread's (process.threadCpuUsage), as the C's are its one thread's;
 * V8's background compiler and GC helpers are not in them, which is why the benchmark warms
 * the engine up before it measures.
 */
export function engineGreedy(m: Model, prompt: number[], steps: number): DecodeRun {
  const c = m.config, kv = createKvCache(c), s = createRunState(c, 1);
  const n = Math.min(steps, c.maxSeqLen), out: number[] = [];
  let token = prompt[0]!;
  const t0 = performance.now(), c0 = process.threadCpuUsage();
  for (let pos = 0; pos < n; pos++) {
    const logits = forward(m, [{ token, pos, kv, adapter: null }], s);
    let next: number;
    if (pos + 1 < prompt.length) next = prompt[pos + 1]!;
    else {
      next = 0;
      for (let i = 1; i < c.vocabSize; i++) if (logits[i]! > logits[next]!) next = i;
    }
    out.push(next);
    token = next;
  }
  const cpu = process.threadCpuUsage(c0);
  return { tokens: out, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}
