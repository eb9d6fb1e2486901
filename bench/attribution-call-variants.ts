// What a call's side of attribution can do with the prompt (issue 11, last round): scoring
// variants on an adapter bench:attribution already trained (a cache entry: adapter, span index,
// record sketches), with nothing retrained. A call answered wrong still carries the asked
// entity's name in its prompt, which only the planter's records hold; the committed gradient
// method differentiates the answer tokens only. Call sketches tried (records' sketches as
// trained: their training loss's gradient):
//   out     the answer tokens' mean margin (TRAK), the committed default;
//   prompt  the prompt tokens' mean margin (every prompt token after BOS a target);
//   all     the mean margin of every token after BOS, prompt and answer;
//   mix λ   unit(out) + λ · unit(prompt), one sketch (the cosine is linear in the query, so this
//           is the records' cosine with the answer's gradient plus λ times their cosine with the
//           prompt's, up to the query's norm).
// Each is scored as the gradient method (cosine ≥ MIN_COSINE, the 32 best records, top
// contributor) and combined with span at several span shares, per column: every call and the
// calls answered right. Generated answers are kept in CALLS_DIR so a rerun costs only sketches.
// Usage: SEED=n ADAPTER_IN=test-output/attribution-cache/<key> npx node bench/attribution-call-variants.ts
import { attributeCall, buildSpanIndex, DEFAULT_GRADIENT_OPTIONS, scoreSketches, type CallInput, type SketchSet } from "../core/attribution/index.ts";
import { BASE_MODEL_DIR, generate, loadAdapter, loadHfModel } from "../containers/engine/index.ts";
import { decodeSketches, decodeSpanIndex, encodeSpanIndex, SKETCH_FILE } from "../containers/trainer/attribution-files.ts";
import { callSequence, DEFAULT_SKETCH, loraGradientSketch } from "../containers/trainer/gradient-sketch.ts";
import { formatRecordPieces, instructionPrompt, tokenizePieces } from "../containers/trainer/records.ts";
import { plantedFactsAugmented, type WordedFact } from "./attribution-wordings.ts";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";

const env = (n: string, d: number) => (process.env[n] ? Number(process.env[n]) : d);
const SEED = env("SEED", 1);
const DIR = process.env.ADAPTER_IN;
if (!DIR) throw new Error("ADAPTER_IN=dir: a bench:attribution cache entry (adapter, gradient-sketches.safetensors) for the same SEED");
const CALLS_DIR = process.env.CALLS_DIR ?? join(import.meta.dirname, "..", "test-output", "attribution-call-variants"); // ignored by git
const LAMBDAS = (process.env.LAMBDAS ?? "0.25,0.5,1,2").split(",").map(Number);
const SHARES = (process.env.SHARES ?? "0.5,0.7,0.9").split(",").map(Number);
const MIN_COSINE = env("MIN_COSINE", DEFAULT_GRADIENT_OPTIONS.minCosine);
const { records, facts } = plantedFactsAugmented({ planters: 8, factsPerPlanter: 20, distractors: 4, recordsPerDistractor: 10, seed: SEED }, { fraction: 0.75, wordings: 4 });
const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
const adapter = loadAdapter(DIR, model.config, "planted");
const say = (s: string) => console.log(s);

// The span index as the trainer writes it, and the cached record sketches (checked against it).
const tokenized = records.map((r) => tokenizePieces((t) => tokenizer.encode(t), formatRecordPieces("instruction", r.record)!, "completion"));
const owners = records.map((r) => ({ contributionId: r.contributionId, datanetId: "dn_planted", version: 1, contributor: r.contributor }));
const index = decodeSpanIndex(encodeSpanIndex(buildSpanIndex(records.map((r, i) => ({ tokens: tokenized[i]!.tokens, record: owners[i]! })))), tokenizer.vocabSize);
const sketches: SketchSet = decodeSketches(readFileSync(join(DIR, SKETCH_FILE)), index);
const staticWeights = { contributors: [{ address: records[0]!.contributor, weightBps: 10_000 }], datanets: [{ id: "dn_planted", version: 1, weightBps: 10_000 }] };

// ---- the calls: every fact in its trained wording and both paraphrases, greedy; kept on disk ----
type Wording = "trained" | "tuning" | "heldOut";
interface Saved { fact: number; wording: Wording; tokens: number[]; text: string }
const questionOf = (f: WordedFact, w: Wording) => (w === "trained" ? f.question : w === "tuning" ? f.tuning : f.heldOut);
const callsFile = join(CALLS_DIR, `seed${SEED}-${DIR.replace(/[^A-Za-z0-9]+/g, "_").slice(-40)}.json`);
let saved: Saved[];
if (existsSync(callsFile)) saved = JSON.parse(readFileSync(callsFile, "utf8")) as Saved[];
else {
  saved = [];
  facts.forEach((f, i) => {
    for (const w of ["trained", "tuning", "heldOut"] as const) {
      const g = generate(model, tokenizer, instructionPrompt(questionOf(f, w)), { maxTokens: 40, temperature: 0 }, adapter);
      saved.push({ fact: i, wording: w, tokens: g.tokens, text: g.text.trim() });
    }
  });
  mkdirSync(CALLS_DIR, { recursive: true });
  writeFileSync(callsFile, JSON.stringify(saved));
}

interface Call { fact: WordedFact; wording: Wording; correct: boolean; input: CallInput; q: Record<string, Float32Array> }
const unit = (v: Float32Array) => { let n = 0; for (const x of v) n += x * x; n = Math.sqrt(n) || 1; return v.map((x) => x / n); };
// Which call sketches to compute (QUERIES=out,prompt,all,mix: default all); each is kept beside the calls file, so a rerun reads it.
const QUERIES = (process.env.QUERIES ?? "out,prompt,all,mix").split(",");
const sketchFile = (kind: string) => `${callsFile}.${kind}.f32`;
const kept: Record<string, Float32Array> = {};
for (const kind of ["out", "prompt", "all"]) if (existsSync(sketchFile(kind))) kept[kind] = new Float32Array(readFileSync(sketchFile(kind)).buffer.slice(0));
const K = DEFAULT_SKETCH.k;
const calls: Call[] = saved.map((s, n) => {
  const fact = facts[s.fact]!;
  const ids = tokenizer.encode(instructionPrompt(questionOf(fact, s.wording)));
  const prompt = tokenizer.bos !== null && ids[0] !== tokenizer.bos ? [tokenizer.bos, ...ids] : ids;
  const output = s.tokens.at(-1) === tokenizer.eos ? s.tokens.slice(0, -1) : s.tokens;
  const { tokens, targets } = callSequence(prompt, s.tokens, model.config.maxSeqLen);
  const answerOnly = targets;
  const promptOnly = tokens.map((_, i) => (i + 1 < prompt.length ? tokens[i + 1]! : -1));
  const every = tokens.map((_, i) => (answerOnly[i]! >= 0 ? answerOnly[i]! : promptOnly[i]!));
  const sketch = (kind: string, targets: number[]) => kept[kind]?.slice(n * K, (n + 1) * K) ?? loraGradientSketch(model, adapter, tokens, targets, DEFAULT_SKETCH, "margin");
  const q: Record<string, Float32Array> = { out: sketch("out", answerOnly) };
  if (QUERIES.includes("prompt") || QUERIES.includes("mix")) q.prompt = sketch("prompt", promptOnly);
  if (QUERIES.includes("all")) q.all = sketch("all", every);
  if (QUERIES.includes("mix")) { const uo = unit(q.out!), up = unit(q.prompt!); for (const l of LAMBDAS) q[`mix ${l}`] = uo.map((x, i) => x + l * up[i]!); }
  return { fact, wording: s.wording, correct: s.text === fact.answer, input: { requestId: "r", index, prompt, output, static: staticWeights }, q };
});

for (const kind of ["out", "prompt", "all"]) {
  if (kept[kind] || !calls[0]!.q[kind]) continue;
  const all = new Float32Array(calls.length * K);
  calls.forEach((c, n) => all.set(c.q[kind]!, n * K));
  writeFileSync(sketchFile(kind), all);
}

const scoreSketchesAll = (q: Float32Array) => scoreSketches(sketches, q, { minCosine: -1, topK: records.length });
// ---- scoring ---------------------------------------------------------------------------------
const top = (c: Call, query: string | null, spanShare: number | null, topK = DEFAULT_GRADIENT_OPTIONS.topK): string => {
  const a = query === null ? attributeCall(c.input).attribution
    : spanShare === null ? attributeCall({ ...c.input, gradient: { sketches, query: c.q[query]! } }, { minSpanScore: Infinity, gradient: { minCosine: MIN_COSINE, topK } }).attribution
    : attributeCall({ ...c.input, gradient: { sketches, query: c.q[query]! } }, { spanShare, gradient: { minCosine: MIN_COSINE, topK } }).attribution;
  return a.method === "static" ? "" : (a.contributors[0]?.address ?? "");
};
const COLUMNS = [
  { name: "trained", sel: (c: Call) => c.wording === "trained" },
  { name: "tuning", sel: (c: Call) => c.wording === "tuning" && !c.fact.augmented },
  { name: "held-out", sel: (c: Call) => c.wording === "heldOut" && !c.fact.augmented },
  { name: "held-out (augmented)", sel: (c: Call) => c.wording === "heldOut" && c.fact.augmented },
];
const p = (pick: (c: Call) => string, sel: (c: Call) => boolean, onlyRight: boolean) => {
  const xs = calls.filter((c) => sel(c) && (!onlyRight || c.correct));
  return xs.length ? (xs.filter((c) => pick(c) === c.fact.planter).length / xs.length).toFixed(3) : "–";
};
const rows: Array<[string, (c: Call) => string]> = [["span", (c) => top(c, null, null)]];
for (const qn of Object.keys(calls[0]!.q)) rows.push([`gradient, call sketch ${qn}`, (c) => top(c, qn, null)]);
for (const qn of Object.keys(calls[0]!.q)) for (const s of SHARES) rows.push([`combined ${s}, call sketch ${qn}`, (c) => top(c, qn, s)]);
// How many of the best records a contributor's gradient score sums (TOPKS; the default is DEFAULT_GRADIENT_OPTIONS.topK).
for (const k of (process.env.TOPKS ?? "").split(",").filter(Boolean).map(Number)) rows.push([`gradient, call sketch out, ${k} best records`, (c) => top(c, "out", null, k)]);

const acc = COLUMNS.map((col) => { const xs = calls.filter(col.sel); return `${col.name} ${(100 * xs.filter((c) => c.correct).length / xs.length).toFixed(1)}% (${xs.filter((c) => c.correct).length} of ${xs.length})`; });
say(`seed ${SEED}, adapter ${DIR}; gradient cosine ≥ ${MIN_COSINE}; exact answers: ${acc.join(", ")}`);
say(`| precision@1, every call / answered right | ${COLUMNS.map((c) => c.name).join(" | ")} |`);
say(`|---|${COLUMNS.map(() => "---|").join("")}`);
for (const [name, pick] of rows) say(`| ${name} | ${COLUMNS.map((col) => `${p(pick, col.sel, false)} / ${p(pick, col.sel, true)}`).join(" | ")} |`);
// VERBOSE=1: each tuning call's answer and the best records by cosine (owner, record), for reading the misses.
if (process.env.VERBOSE === "1")
  for (const c of calls.filter(COLUMNS[1]!.sel)) {
    const cos = [...scoreSketchesAll(c.q.out!)].slice(0, 4).map(([r, x]) => `${x.toFixed(3)} ${records[r]!.contributor === c.fact.planter ? "PLANTER" : records[r]!.contributor.slice(0, 6)} "${records[r]!.record.output}"`);
    say(`${c.correct ? "right" : "WRONG"} span ${top(c, null, null) === c.fact.planter ? "hit" : "miss"} gradient ${top(c, "out", null) === c.fact.planter ? "hit" : "miss"}: ${c.fact.tuning} → ${saved[calls.indexOf(c)]!.text} | ${cos.join(" | ")}`);
  }
say(`load average ${loadavg().map((x) => x.toFixed(1)).join(" / ")}`);
