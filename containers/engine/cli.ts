// `npm run engine -- <command>`: train, generate and eval by hand.
//   engine train --data records.jsonl --out adapters/mine [--model dir|file.bin] [--steps 200] [--r 8] ...
//   engine generate --prompt "My fellow Americans" [--adapter adapters/mine] [--temperature 0.7] ...
//   engine eval --data records.jsonl [--adapter adapters/mine]
// Records: JSON lines with a "text" field, or plain text with one record per blank-line-separated block.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { BASE_MODEL_DIR } from "./index.ts";
import { loadHfModel, loadLlama2c, type LoadedModel } from "./checkpoint.ts";
import { createLora, TARGETS, type Target } from "./lora.ts";
import { loadAdapter, saveAdapter } from "./peft.ts";
import { packRecords } from "./packing.ts";
import { evaluate, train, type TrainEvent } from "./train.ts";
import { generate } from "./generate.ts";

const USAGE = `usage: engine <train|generate|eval> [options]
  common:   --model <dir | file.bin>   base model (default: the committed tiny base model)
  train:    --data <file> --out <dir> [--steps 200] [--lr 2e-3] [--batch 4] [--accum 1] [--seq 128]
            [--r 8] [--alpha 16] [--dropout 0.05] [--targets q_proj,v_proj] [--eval-frac 0.1]
            [--eval-every 25] [--patience 0] [--checkpoint-every 0] [--seed 1]
  generate: --prompt <text> [--adapter <dir>] [--max-tokens 64] [--temperature 0.8] [--top-p 0.95] [--seed 0] [--stop <s>]
  eval:     --data <file> [--adapter <dir>] [--seq 128]`;

function fail(msg: string): never {
  process.stderr.write(`engine: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

const { positionals, values: v } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: "string" }, data: { type: "string" }, out: { type: "string" }, adapter: { type: "string" }, prompt: { type: "string" },
    steps: { type: "string" }, lr: { type: "string" }, batch: { type: "string" }, accum: { type: "string" }, seq: { type: "string" },
    r: { type: "string" }, alpha: { type: "string" }, dropout: { type: "string" }, targets: { type: "string" }, "eval-frac": { type: "string" },
    "eval-every": { type: "string" }, patience: { type: "string" }, "checkpoint-every": { type: "string" }, seed: { type: "string" },
    "max-tokens": { type: "string" }, temperature: { type: "string" }, "top-p": { type: "string" }, stop: { type: "string", multiple: true },
    help: { type: "boolean", short: "h" },
  },
});
const num = (k: keyof typeof v, dflt: number): number => {
  const s = v[k];
  if (s === undefined) return dflt;
  const n = Number(s);
  if (typeof s !== "string" || !Number.isFinite(n)) fail(`--${k} must be a number, got ${String(s)}`);
  return n;
};

function loadBase(): LoadedModel {
  const p = v.model ?? BASE_MODEL_DIR;
  return p.endsWith(".bin") ? loadLlama2c(p) : loadHfModel(p);
}

function readRecords(path: string): string[] {
  const text = readFileSync(path, "utf8");
  if (path.endsWith(".jsonl"))
    return text.split("\n").filter((l) => l.trim()).map((l, i) => {
      const j = JSON.parse(l) as { text?: unknown; prompt?: unknown; completion?: unknown };
      if (typeof j.text === "string") return j.text;
      if (typeof j.prompt === "string" && typeof j.completion === "string") return j.prompt + j.completion;
      fail(`${path}:${i + 1}: a record needs "text" or "prompt" + "completion"`);
    });
  return text.split(/\n\s*\n/).map((s) => s.trim()).filter(Boolean);
}

function progressBar(e: TrainEvent): void {
  if (e.type === "step") {
    const w = 30, done = Math.round((w * e.step) / e.totalSteps);
    const eta = e.etaSec >= 60 ? `${Math.floor(e.etaSec / 60)}m${Math.round(e.etaSec % 60)}s` : `${Math.round(e.etaSec)}s`;
    process.stderr.write(`\r[${"#".repeat(done)}${".".repeat(w - done)}] ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(3)} ${e.tokensPerSec.toFixed(0)} tok/s eta ${eta}   `);
  } else if (e.type === "eval") process.stderr.write(`\n  eval @${e.step}: loss ${e.loss.toFixed(3)} ppl ${e.perplexity.toFixed(1)} (base ${e.baseLoss?.toFixed(3)} ppl ${e.basePerplexity?.toFixed(1)})\n`);
  else if (e.type === "resumed") process.stderr.write(`resumed from checkpoint at step ${e.step}\n`);
  else if (e.type === "early-stop") process.stderr.write(`\nearly stop at step ${e.step}; best held-out loss ${e.bestLoss.toFixed(3)}\n`);
  else if (e.type === "done") process.stderr.write(`\ndone: ${e.step} steps, train loss ${e.trainLoss.toFixed(3)}, held-out loss ${e.evalLoss?.toFixed(3)}\n`);
}

const cmd = positionals[0];
if (v.help || !cmd) fail("no command");
try {
  if (cmd === "train") {
    if (!v.data || !v.out) fail("train needs --data and --out");
    const { model, tokenizer } = loadBase();
    const seq = Math.min(num("seq", 128), model.config.maxSeqLen);
    const records = readRecords(v.data).map((t) => tokenizer.encode(t));
    const nEval = Math.max(1, Math.floor(records.length * num("eval-frac", 0.1)));
    if (records.length < 2) fail("need at least 2 records (one is held out)");
    const targets = (v.targets ?? "q_proj,v_proj").split(",") as Target[];
    for (const t of targets) if (!TARGETS.includes(t)) fail(`unknown target ${t}; choose from ${TARGETS.join(",")}`);
    const adapter = createLora(model.config, { r: num("r", 8), alpha: num("alpha", 16), dropout: num("dropout", 0.05), targets }, { seed: num("seed", 1), baseModel: model.name, id: v.out });
    const data = { train: packRecords(records.slice(nEval), seq, tokenizer.eos), eval: packRecords(records.slice(0, nEval), seq, tokenizer.eos) };
    const res = train(model, adapter, data, {
      steps: num("steps", 200), lr: num("lr", 2e-3), batchSize: num("batch", 4), gradAccum: num("accum", 1), evalEvery: num("eval-every", 25),
      earlyStopPatience: num("patience", 0), checkpointEvery: num("checkpoint-every", 0), checkpointDir: num("checkpoint-every", 0) > 0 ? `${v.out}/checkpoints` : null, seed: num("seed", 1),
    }, progressBar);
    saveAdapter(v.out, adapter);
    process.stdout.write(JSON.stringify({ adapter: v.out, steps: res.steps, trainLoss: res.trainLoss, evalLoss: res.evalLoss, baseEvalLoss: res.baseEvalLoss }) + "\n");
  } else if (cmd === "generate") {
    if (v.prompt === undefined) fail("generate needs --prompt");
    const { model, tokenizer } = loadBase();
    const adapter = v.adapter ? loadAdapter(v.adapter, model.config) : null;
    process.stdout.write(v.prompt);
    generate(model, tokenizer, v.prompt, { maxTokens: num("max-tokens", 64), temperature: num("temperature", 0.8), topP: num("top-p", 0.95), seed: num("seed", 0), stop: v.stop ?? [], onText: (d) => process.stdout.write(d) }, adapter);
    process.stdout.write("\n");
  } else if (cmd === "eval") {
    if (!v.data) fail("eval needs --data");
    const { model, tokenizer } = loadBase();
    const seqs = packRecords(readRecords(v.data).map((t) => tokenizer.encode(t)), Math.min(num("seq", 128), model.config.maxSeqLen), tokenizer.eos);
    const base = evaluate(model, null, seqs);
    const adapter = v.adapter ? loadAdapter(v.adapter, model.config) : null;
    const tuned = adapter ? evaluate(model, adapter, seqs) : null;
    process.stdout.write(JSON.stringify({ sequences: seqs.length, baseLoss: base, basePerplexity: Math.exp(base), adapterLoss: tuned, adapterPerplexity: tuned === null ? null : Math.exp(tuned) }) + "\n");
  } else fail(`unknown command ${cmd}`);
} catch (e) {
  process.stderr.write(`engine: ${(e as Error).message}\n`);
  process.exit(1);
}
