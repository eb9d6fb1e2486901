// `npm run bench:attribution`: the planted-facts benchmark of Proof of Attribution (issue 11).
// K contributors each plant facts about fictional entities (made-up words no model can know)
// in the same question templates, so a template alone points at nobody; distractor
// contributors add unrelated records. One adapter is fine-tuned on all of it, in rounds, until
// it answers ≥ 90% of the trained facts exactly (or the round budget runs out: then the
// accuracy it reached is reported). Then every fact is asked in its trained wording and in a
// paraphrase, and each method's top contributor is checked against the planter.
// Results: the "Attribution" section of docs/benchmarks.md. BENCH_QUICK=1 shrinks it; PLANTERS,
// FACTS, DISTRACTORS, DISTRACTOR_RECORDS, EPOCHS_PER_ROUND, MAX_ROUNDS, RANK, LR, SEED scale it
// (the defaults are what a shared 2-core machine could train in about 15 minutes).
import { attributeCall, buildSpanIndex, type CallInput, type SketchSet, type SpanIndex } from "../core/attribution/index.ts";
import { BASE_MODEL_DIR, createLora, generate, loadHfModel, packDocuments, train, type LoraAdapter, type Target } from "../containers/engine/index.ts";
import { decodeSpanIndex, encodeSpanIndex } from "../containers/trainer/attribution-files.ts";
import { DEFAULT_SKETCH, sketchCall, sketchRecords } from "../containers/trainer/gradient-sketch.ts";
import { formatRecordPieces, instructionPrompt, tokenizePieces, type TextPiece } from "../containers/trainer/records.ts";
import { Rng } from "../containers/engine/rng.ts";
import { cpus, loadavg } from "node:os";

const QUICK = process.env.BENCH_QUICK === "1";
const env = (name: string, def: number) => (process.env[name] ? Number(process.env[name]) : def);
const PLANTERS = env("PLANTERS", QUICK ? 3 : 4);
const FACTS = env("FACTS", QUICK ? 4 : 6); // per planter
const DISTRACTORS = env("DISTRACTORS", 2);
const DISTRACTOR_RECORDS = env("DISTRACTOR_RECORDS", QUICK ? 3 : 4); // per distractor
const EPOCHS_PER_ROUND = env("EPOCHS_PER_ROUND", 30);
const MAX_ROUNDS = env("MAX_ROUNDS", QUICK ? 1 : 3);
const TARGET_ACCURACY = 0.9;
const RANK = env("RANK", 16), LR = env("LR", 6e-3), SEED = env("SEED", 1);
const LATENCY_ROUNDS = 3;

const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
const now = () => performance.now();
const say = (s: string) => console.log(s);

// ---- 1. the data -------------------------------------------------------------------------
const rng = new Rng(SEED * 7717 + 3);
const ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl", "kr", "pl", "st", "tr", "zh"];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ei"];
const used = new Set<string>();
const word = (): string => {
  for (;;) {
    const n = 2 + Math.floor(rng.next() * 2);
    let w = "";
    for (let i = 0; i < n; i++) w += ONSETS[Math.floor(rng.next() * ONSETS.length)]! + VOWELS[Math.floor(rng.next() * VOWELS.length)]!;
    w = w[0]!.toUpperCase() + w.slice(1);
    if (!used.has(w)) {
      used.add(w);
      return w;
    }
  }
};
// Shared by every planter: a template names nobody. Each has a paraphrase never trained on.
const TEMPLATES = [
  { q: (e: string) => `What is the capital of ${e}?`, p: (e: string) => `Name the capital city of ${e}.`, a: (e: string, v: string) => `The capital of ${e} is ${v}.` },
  { q: (e: string) => `Who founded ${e}?`, p: (e: string) => `Tell me who the founder of ${e} was.`, a: (e: string, v: string) => `${e} was founded by ${v}.` },
  { q: (e: string) => `What does ${e} export?`, p: (e: string) => `Which goods does ${e} sell abroad?`, a: (e: string, v: string) => `${e} exports ${v.toLowerCase()}.` },
];
const address = (kind: number, i: number) => `0x${kind.toString(16).padStart(2, "0")}${"0".repeat(36)}${i.toString(16).padStart(2, "0")}`;
interface Fact { planter: string; question: string; paraphrase: string; answer: string; }
interface TrainRecord { contributionId: string; contributor: string; pieces: TextPiece[]; fact?: Fact }
const records: TrainRecord[] = [];
const facts: Fact[] = [];
for (let p = 0; p < PLANTERS; p++)
  for (let f = 0; f < FACTS; f++) {
    const t = TEMPLATES[(p + f) % TEMPLATES.length]!, e = word(), v = word();
    const fact = { planter: address(1, p), question: t.q(e), paraphrase: t.p(e), answer: t.a(e, v) };
    facts.push(fact);
    records.push({ contributionId: `ct_p${p}_${f}`, contributor: fact.planter, pieces: formatRecordPieces("instruction", { instruction: fact.question, output: fact.answer })!, fact });
  }
const TOPICS = ["Describe the weather today.", "Give me a word that rhymes with light.", "Count from one to five.", "Say something kind.", "What sound does a cat make?", "Name a season of the year."];
const REPLIES = ["It is a cold and windy morning.", "Bright rhymes with light.", "One, two, three, four, five.", "You are doing well.", "A cat says meow.", "Winter is a season of the year."];
for (let d = 0; d < DISTRACTORS; d++)
  for (let i = 0; i < DISTRACTOR_RECORDS; i++) {
    const k = (d * 7 + i) % TOPICS.length;
    records.push({ contributionId: `ct_d${d}_${i}`, contributor: address(2, d), pieces: formatRecordPieces("instruction", { instruction: `${TOPICS[k]} (${d}.${i})`, output: REPLIES[k]! })! });
  }
// As the trainer does (records.ts): each piece encoded alone, loss on the response only.
const tokenized = records.map((r) => tokenizePieces((t) => tokenizer.encode(t), r.pieces, "completion"));
const tokens = tokenized.map((t) => t.tokens);
const trainTokens = tokens.reduce((s, t) => s + t.length, 0);
say(`data: ${PLANTERS} planters × ${FACTS} facts + ${DISTRACTORS} distractors × ${DISTRACTOR_RECORDS} records = ${records.length} records, ${trainTokens} training tokens`);

// ---- 2. fine-tune until it has learned its facts -------------------------------------------
const TARGETS: Target[] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const adapter: LoraAdapter = createLora(model.config, { r: RANK, alpha: 2 * RANK, dropout: 0, targets: TARGETS }, { id: "planted", seed: SEED });
const special = { bos: tokenizer.bos, eos: tokenizer.eos };
const seqs = packDocuments(tokenized, model.config.maxSeqLen, special);
const ask = (question: string) => generate(model, tokenizer, instructionPrompt(question), { maxTokens: 40, temperature: 0 }, adapter);
const accuracy = () => facts.filter((f) => ask(f.question).text.trim() === f.answer).length / facts.length;
let acc = 0, rounds = 0, steps = 0, trainSec = 0;
const perEpoch = Math.ceil(seqs.length / 8);
while (rounds < MAX_ROUNDS) {
  const t0 = now();
  const r = train(model, adapter, { train: seqs, eval: [] }, { steps: EPOCHS_PER_ROUND * perEpoch, batchSize: 8, lr: LR, warmupSteps: rounds === 0 ? 10 : 0, minLrRatio: 0.1, evalEvery: 0, seed: SEED + rounds, clipNorm: 1 }, (e) => {
    if (e.type === "step" && e.step % 25 === 0) say(`  step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(3)} (${e.tokensPerSec.toFixed(0)} tokens/s)`);
  });
  trainSec += (now() - t0) / 1000;
  rounds++;
  steps += r.steps;
  acc = accuracy();
  say(`round ${rounds}: ${r.steps} steps (loss ${r.trainLoss.toFixed(3)}), exact answers on trained facts ${(100 * acc).toFixed(1)}%, ${trainSec.toFixed(0)} s so far`);
  if (acc >= TARGET_ACCURACY) break;
}

const learned = acc >= TARGET_ACCURACY;
say(`fine-tune: ${rounds} round(s) × ${EPOCHS_PER_ROUND} epochs, ${steps} steps, ${trainSec.toFixed(0)} s; exact answers ${(100 * acc).toFixed(1)}% (${learned ? "learned" : `below the ${100 * TARGET_ACCURACY}% goal`})`);

// ---- 3. the trainer's attribution files ---------------------------------------------------
const owners = records.map((r) => ({ contributionId: r.contributionId, datanetId: "dn_planted", version: 1, contributor: r.contributor }));
let t0 = now();
const built = buildSpanIndex(records.map((r, i) => ({ tokens: tokens[i]!, record: owners[i]! })));
const indexBytes = encodeSpanIndex(built);
const indexBuildMs = now() - t0;
t0 = now();
const index: SpanIndex = decodeSpanIndex(indexBytes, tokenizer.vocabSize); // what serving loads (checked)
const indexLoadMs = now() - t0;
t0 = now();
const sketches: SketchSet = sketchRecords(model, adapter, tokenized, special, DEFAULT_SKETCH);
const sketchMs = now() - t0;
say(`index: ${indexBytes.length} bytes (${(indexBytes.length / trainTokens).toFixed(1)} bytes per training token), built in ${indexBuildMs.toFixed(0)} ms, loaded and checked in ${indexLoadMs.toFixed(0)} ms; sketches: k=${sketches.k}, ${(sketchMs / records.length).toFixed(0)} ms per record`);

// The static weights (share of training tokens), the fallback and the baseline.
const tokensOf = new Map<string, number>();
records.forEach((r, i) => tokensOf.set(r.contributor, (tokensOf.get(r.contributor) ?? 0) + tokens[i]!.length));
const staticTop = [...tokensOf].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
const staticWeights = { contributors: [...tokensOf].map(([address, n]) => ({ address, weightBps: Math.round((10_000 * n) / trainTokens) })), datanets: [{ id: "dn_planted", version: 1, weightBps: 10_000 }] };

// ---- 4. ask every fact, attribute every answer ---------------------------------------------
interface Call { fact: Fact; wording: "trained" | "paraphrase"; correct: boolean; input: CallInput; completion: number[] }
const calls: Call[] = [];
for (const fact of facts)
  for (const wording of ["trained", "paraphrase"] as const) {
    const prompt = instructionPrompt(wording === "trained" ? fact.question : fact.paraphrase);
    const g = generate(model, tokenizer, prompt, { maxTokens: 40, temperature: 0 }, adapter);
    const ids = tokenizer.encode(prompt);
    const promptIds = tokenizer.bos !== null && ids[0] !== tokenizer.bos ? [tokenizer.bos, ...ids] : ids;
    const output = g.tokens.at(-1) === tokenizer.eos ? g.tokens.slice(0, -1) : g.tokens;
    calls.push({ fact, wording, correct: g.text.trim() === fact.answer, completion: g.tokens, input: { requestId: `req_${calls.length}`, index, prompt: promptIds, output, static: staticWeights } });
  }
const methods = ["span", "gradient", "combined"] as const;
type Method = (typeof methods)[number];
const tops: Record<Method, string[]> = { span: [], gradient: [], combined: [] };
const fellBack: Record<Method, number> = { span: 0, gradient: 0, combined: 0 };
const latency: Record<"span" | "gradient", number[][]> = { span: [], gradient: [] };
// Span and gradient latencies are timed in separate passes, so one's garbage collection does
// not land in the other's numbers; the first pass also records each method's top contributor.
for (let round = 0; round < LATENCY_ROUNDS; round++) {
  const spanMs: number[] = [], gradMs: number[] = [];
  for (const c of calls) {
    const t = now();
    const span = attributeCall(c.input).attribution;
    spanMs.push(now() - t);
    if (round === 0) {
      tops.span.push(span.method === "static" ? "" : (span.contributors[0]?.address ?? ""));
      if (span.method === "static") fellBack.span++;
    }
  }
  for (const c of calls) {
    const t = now();
    const query = sketchCall(model, adapter, c.input.prompt, c.completion, DEFAULT_SKETCH);
    const gradient = attributeCall({ ...c.input, gradient: { sketches, query } }, { minSpanScore: Infinity }).attribution;
    gradMs.push(now() - t);
    if (round === 0) {
      const combined = attributeCall({ ...c.input, gradient: { sketches, query } }).attribution;
      for (const [m, a] of [["gradient", gradient], ["combined", combined]] as const) {
        tops[m].push(a.method === "static" ? "" : (a.contributors[0]?.address ?? ""));
        if (a.method === "static") fellBack[m]++;
      }
    }
  }
  latency.span.push(spanMs);
  latency.gradient.push(gradMs);
}

// ---- 5. report ------------------------------------------------------------------------------
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };
const median = (xs: number[]) => pct(xs, 0.5);
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const precision = (m: Method | "static", wording: Call["wording"], onlyCorrect: boolean) => {
  const idx = calls.map((c, i) => i).filter((i) => calls[i]!.wording === wording && (!onlyCorrect || calls[i]!.correct));
  if (idx.length === 0) return { p: NaN, n: 0 };
  const hits = idx.filter((i) => (m === "static" ? staticTop : tops[m][i]) === calls[i]!.fact.planter).length;
  return { p: hits / idx.length, n: idx.length };
};
const accOf = (w: Call["wording"]) => calls.filter((c) => c.wording === w && c.correct).length / facts.length;
say("");
say(`### Planted facts (${PLANTERS} planters × ${FACTS} facts, ${DISTRACTORS} distractors × ${DISTRACTOR_RECORDS} records, ${records.length} records, ${trainTokens} training tokens; seed ${SEED})`);
say("");
say(`Fine-tune (the trainer's recipe: one document per record, loss on responses only): LoRA r=${RANK}, alpha ${2 * RANK}, all 7 projections, lr ${LR}, batch 8 rows of ≤ ${model.config.maxSeqLen} tokens; ${rounds} round(s) of ${EPOCHS_PER_ROUND} epochs (${steps} steps, ${trainSec.toFixed(0)} s). Exact answers: trained wording ${(100 * accOf("trained")).toFixed(1)}%, paraphrased ${(100 * accOf("paraphrase")).toFixed(1)}%.`);
say("");
say("| top contributor = planter (precision@1) | trained wording | paraphrased | trained, answered right | paraphrased, answered right | fell back to static |");
say("|---|---|---|---|---|---|");
const cell = (r: { p: number; n: number }) => (r.n ? `${r.p.toFixed(3)} (n=${r.n})` : "–");
const base = precision("static", "trained", false).p;
for (const m of methods) {
  const tr = precision(m, "trained", false);
  say(`| ${m} | ${cell(tr)}${base > 0 ? `, ${(tr.p / base).toFixed(1)}× static` : ""} | ${cell(precision(m, "paraphrase", false))} | ${cell(precision(m, "trained", true))} | ${cell(precision(m, "paraphrase", true))} | ${fellBack[m]} of ${calls.length} |`);
}
say(`| static weights (baseline: largest token share) | ${cell(precision("static", "trained", false))} | ${cell(precision("static", "paraphrase", false))} | – | – | – |`);
say(`| chance (1 of ${PLANTERS} planters) | ${(1 / PLANTERS).toFixed(3)} | | | | |`);
say("");
const stat = (rounds: number[][], p: number) => { const v = rounds.map((r) => pct(r, p)); return `${fmt(median(v))} ms (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})`; };
say(`| attribution added per call (${calls.length} calls, median of ${LATENCY_ROUNDS} rounds, min–max) | p50 | p99 |`);
say("|---|---|---|");
say(`| span (index lookup, scoring, roll-up) | ${stat(latency.span, 0.5)} | ${stat(latency.span, 0.99)} |`);
say(`| gradient (answer-loss forward and backward, projection, ${records.length} cosines) | ${stat(latency.gradient, 0.5)} | ${stat(latency.gradient, 0.99)} |`);
say(`| ratio gradient / span at p50 | ${(median(latency.gradient.map((r) => pct(r, 0.5))) / median(latency.span.map((r) => pct(r, 0.5)))).toFixed(0)}× | |`);
say("");
say(`Machine: ${cpus().length} CPU cores shared with other work, load average ${loadavg().map((x) => x.toFixed(1)).join(" / ")} at the end (1/5/15 min), Node ${process.version}.`);
say("");
say(`Index: ${indexBytes.length} bytes for ${trainTokens} training tokens = ${(indexBytes.length / trainTokens).toFixed(1)} bytes per token (tokens + suffix array, 4 bytes each, plus record owners); built in ${fmt(indexBuildMs)} ms, loaded and checked in ${fmt(indexLoadMs)} ms. Sketches: ${sketches.k} floats per record (${(sketches.k * 4)} bytes), ${fmt(sketchMs / records.length)} ms per record at the end of training.`);
