// The CLI end to end on a tiny model: train an adapter, generate with it, evaluate it; bad input.
import { describe, expect, it, onTestFinished } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { saveHfModel } from "./checkpoint.ts";
import { tinyModel } from "./test-helpers.ts";

const cli = fileURLToPath(new URL("./cli.ts", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });

describe("engine CLI", () => {
  it("trains, generates and evaluates", () => {
    const dir = mkdtempSync(join(tmpdir(), "engine-cli-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    saveHfModel(join(dir, "model"), tinyModel(41, { vocabSize: 260, maxSeqLen: 64 }));
    writeFileSync(join(dir, "data.jsonl"), Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `record ${i}: abcabc` })).join("\n"));
    const tr = run("train", "--model", join(dir, "model"), "--data", join(dir, "data.jsonl"), "--out", join(dir, "ad"), "--steps", "4", "--eval-every", "2", "--seq", "16", "--targets", "q_proj,down_proj");
    expect(tr.status, tr.stderr).toBe(0);
    expect(tr.stderr).toMatch(/\[#+\] 4\/4 loss/);
    expect(JSON.parse(tr.stdout)).toMatchObject({ steps: 4 });
    expect(existsSync(join(dir, "ad", "adapter_model.safetensors"))).toBe(true);
    const gen = run("generate", "--model", join(dir, "model"), "--adapter", join(dir, "ad"), "--prompt", "abc", "--max-tokens", "5", "--temperature", "0");
    expect(gen.status, gen.stderr).toBe(0);
    expect(gen.stdout.startsWith("abc")).toBe(true);
    const ev = run("eval", "--model", join(dir, "model"), "--adapter", join(dir, "ad"), "--data", join(dir, "data.jsonl"), "--seq", "16");
    expect(ev.status, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout).adapterLoss).toBeGreaterThan(0);
  });

  it("explains bad input", () => {
    expect(run().status).toBe(2);
    expect(run("train").stderr).toMatch(/needs --data and --out/);
    expect(run("generate", "--prompt", "x", "--temperature", "hot").stderr).toMatch(/--temperature must be a number/);
    const r = run("generate", "--model", "/nonexistent", "--prompt", "x");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no config.json/);
  });
});
