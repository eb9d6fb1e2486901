// `npm run bench:attribution`: the planted-facts benchmark of Proof of Attribution (issue 11).
// K contributors each plant facts about fictional entities (made-up words no model can know)
// in the same question templates, so a template alone points at nobody; distractor
// contributors add unrelated records (test/fakes/planted-facts.ts). By default three quarters
// of each planter's facts are also stated in 4 other wordings that every planter shares
// (knowledge augmentation, bench/attribution-wordings.ts; chosen over a half on the tuning
// paraphrases); AUGMENT_FRACTION=0 is the single-wording set.
// One adapter is fine-tuned on all of it with the API's default settings (what a job that
// names only its data gets: core/jobs/model.ts's lr 0.005, the rest scaled by core/jobs/recipe.ts),
// once; LR= overrides the lr (at the former default 0.01 the augmented set did not train). Then every fact is
// asked in its trained wording, in a "tuning" paraphrase and in a "held-out" paraphrase (greedy
// decoding), each only of facts never trained in it, and each method's top contributor is
// checked against the planter. The one attribution setting chosen here (the span share of the
// combined score) is chosen on the tuning paraphrases only and reported on the held-out ones.
// ABLATION=1 runs issue 12's rows instead: the same recipe on a smaller planted set with loss
// on all tokens instead of the responses only, and packed without the block-diagonal mask.
// Results: the "Attribution" section of docs/benchmarks.md. BENCH_QUICK=1 shrinks it;
// PLANTERS, FACTS, DISTRACTORS, DISTRACTOR_RECORDS and SEED scale it.
import { attributeCall, DEFAULT_ATTRIBUTION_OPTIONS, DEFAULT_GRADIENT_OPTIONS, buildSpanIndex, scoreSpans, type CallInput, type SketchSet, type SpanIndex } from "../core/attribution/index.ts";
import { scoreSpansBaseline } from "./attribution-span-baseline.ts";
import { countTokens } from "../core/ingest/token-count.ts";
import { defaultQuotas } from "../core/config.ts";
import { getBaseModel } from "../core/jobs/base-models.ts";
import { LoraSettings, TrainingSettings } from "../core/jobs/model.ts";
import { withScaledDefaults } from "../core/jobs/recipe.ts";
import { BASE_MODEL_DIR, createLora, generate, loadAdapter, loadHfModel, packDocuments, saveAdapter, train, type LoraAdapter, type Sequence } from "../containers/engine/index.ts";
import { decodeSafetensors, decodeSketches, decodeSpanIndex, encodeSketches, encodeSpanIndex, INDEX_FILE, SKETCH_FILE } from "../containers/trainer/attribution-files.ts";
import { DEFAULT_SKETCH, sketchCall, sketchRecords } from "../containers/trainer/gradient-sketch.ts";
import { withPromptNoise } from "../containers/trainer/prompt-noise.ts";
import { formatRecordPieces, instructionPrompt, tokenizePieces, type LossOn } from "../containers/trainer/records.ts";
import { type PlantedFact, type PlantedRecord } from "../test/fakes/planted-facts.ts";
import { plantedFactsAugmented, type WordedFact } from "./attribution-wordings.ts";
import { AttributionCache } from "./attribution-cache.ts";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpus, loadavg } from "node:os";

const QUICK = process.env.BENCH_QUICK === "1";
const ABLATION = process.env.ABLATION === "1";
const env = (name: string, def: number) => (process.env[name] ? Number(process.env[name]) : def);
const SEED = env("SEED", 1);
// The protocol since issue 11's last round (docs/benchmarks.md, "Fresh test seeds"): data seeds 1–3
// have all been looked at and are the choosing seeds (settings are chosen on their tuning
// paraphrases only); 4 and 5 were the tests, and 6 a further one. Since the round after
// ("Seeds 7 and 8"), 4–6 are choosing seeds too (their adapters are cached) and 7 and 8 are the
// tests, on which nothing is chosen and whose numbers are reported whatever they are. A setting
// chosen after looking at a test seed makes the next seed the test.
const CHOOSING_SEEDS = [1, 2, 3, 4, 5, 6], TEST_SEEDS = [7, 8];
const seedRole = CHOOSING_SEEDS.includes(SEED) ? "a choosing seed: settings are chosen on its tuning paraphrases" : TEST_SEEDS.includes(SEED) ? "a test seed: nothing is chosen on it" : "neither a choosing nor a test seed";
const SIZE = ABLATION
  ? { planters: env("PLANTERS", 3), factsPerPlanter: env("FACTS", 6), distractors: env("DISTRACTORS", 2), recordsPerDistractor: env("DISTRACTOR_RECORDS", 4) }
  : { planters: env("PLANTERS", QUICK ? 3 : 8), factsPerPlanter: env("FACTS", QUICK ? 4 : 20), distractors: env("DISTRACTORS", QUICK ? 2 : 4), recordsPerDistractor: env("DISTRACTOR_RECORDS", QUICK ? 3 : 10) };
const TARGET_ACCURACY = 0.9;
const LATENCY_ROUNDS = 3;
const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
const special = { bos: tokenizer.bos, eos: tokenizer.eos };
const now = () => performance.now();
const say = (s: string) => console.log(s);
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };
const median = (xs: number[]) => pct(xs, 0.5);
/** Wall time and this process's CPU time (all threads, garbage collection included) of one call: on a loaded machine the difference is time spent waiting for a core. */
const timed = (f: () => unknown) => { const c0 = process.cpuUsage(), t0 = performance.now(); f(); const wallMs = performance.now() - t0, c = process.cpuUsage(c0); return { wallMs, cpuMs: (c.user + c.system) / 1000 }; };
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

// ---- the data, and the settings a job on it gets by default -------------------------------
// AUGMENT_FRACTION of each planter's facts are also stated in AUGMENT_WORDINGS other wordings
// (bench/attribution-wordings.ts: knowledge augmentation); 0 is the single-wording set.
// drawn by the seed from a pool of AUGMENT_POOL per template (default: AUGMENT_WORDINGS, all of them).
// ABLATION and SPAN_LATENCY keep the single-wording set their earlier rows were measured on.
const AUGMENT = { fraction: env("AUGMENT_FRACTION", ABLATION || process.env.SPAN_LATENCY === "1" ? 0 : 0.75), wordings: env("AUGMENT_WORDINGS", 4), pool: process.env.AUGMENT_POOL ? Number(process.env.AUGMENT_POOL) : undefined };
const { records, facts } = plantedFactsAugmented({ ...SIZE, seed: SEED }, AUGMENT);
const pieces = (r: PlantedRecord) => formatRecordPieces("instruction", r.record)!;
// As createJob: the schema's defaults, then epochs, batch, warmup… scaled to the Datanet from
// the ingest's pre-token counts (the recipe converts them to the base model's tokens).
const lora = LoraSettings.parse({});
const training = withScaledDefaults({}, TrainingSettings.parse({}), { records: records.length, tokens: records.reduce((s, r) => s + countTokens(`${r.record.instruction} ${r.record.output}`), 0) }, getBaseModel("mf-tiny-sotu")!, defaultQuotas.sequencesPerJob);
// Recipe experiments (issue 11), each the default unless set: LOSS_ON=all|completion,
// NOISE_COPIES, NOISE_RATE and NOISE_MODE=drop|mix (prompt noise, containers/trainer/prompt-noise.ts),
// LR, EPOCHS, WARMUP (steps), LORA_DROPOUT. VERBOSE=1 prints every paraphrase's answer. ADAPTER_OUT=dir
// saves the fine-tuned adapter (PEFT files) and ADAPTER_IN=dir loads one instead of training,
// so a scoring change can be measured again without fine-tuning again. Without either, each
// fine-tune's adapter, span index and sketches are kept in a cache keyed by the records, the
// recipe and the training code's source (bench/attribution-cache.ts; ATTRIBUTION_CACHE=dir or off)
// and reused when the key matches: a second run of the same seed scores in seconds.
// TRAIN_ONLY=1 fills the cache and asks nothing.
// GRAD_MIN_COSINE: the default gradient method's threshold instead of DEFAULT_GRADIENT_OPTIONS'.
const GRADIENT = process.env.GRAD_MIN_COSINE ? { minCosine: Number(process.env.GRAD_MIN_COSINE) } : {};
if (process.env.LORA_DROPOUT) lora.dropout = Number(process.env.LORA_DROPOUT);
if (process.env.LOSS_ON) training.lossOn = process.env.LOSS_ON as LossOn;
// The lr is the API's default (0.005 since issue 11: at 0.01 the augmented set did not train,
// docs/benchmarks.md "Can the defaults' own lr train this set?"); LR= names another, as a job may.
if (process.env.LR) training.learningRate = Number(process.env.LR);
if (process.env.EPOCHS) training.epochs = Number(process.env.EPOCHS);
if (process.env.WARMUP) {
  const w = Number(process.env.WARMUP);
  if (!Number.isInteger(w) || w < 0) throw new Error(`WARMUP must be a whole number of steps ≥ 0, got "${process.env.WARMUP}"`);
  training.warmupSteps = w;
}
// The job's prompt noise: none by default (core/jobs/recipe.ts); NOISE_COPIES=1 NOISE_RATE=0.8 NOISE_MODE=mix is PARAPHRASE_PROMPT_NOISE.
const noise = {
  copies: env("NOISE_COPIES", training.promptNoise?.copies ?? 0), rate: env("NOISE_RATE", training.promptNoise?.rate ?? 0), seed: training.seed,
  mode: (process.env.NOISE_MODE ?? training.promptNoise?.mode ?? "drop") as "drop" | "mix",
};

interface FineTune { adapter: LoraAdapter; steps: number; seconds: number; loss: number; tokens: number; cache: AttributionCache; from: string }

// GIT_COMMIT names it where the tree is an export with no .git (a snapshot insulated from others' uncommitted edits).
const gitCommit = () => { if (process.env.GIT_COMMIT) return process.env.GIT_COMMIT; try { return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim(); } catch { return "unknown"; } };

/** The trainer's recipe (containers/trainer/train-worker.ts) on all the records: one document per record, BOS first. */
function fineTune(lossOn: LossOn, blockDiagonal: boolean): FineTune {
  const tokenized = withPromptNoise(records.map(pieces), noise).map((p) => tokenizePieces((t) => tokenizer.encode(t), p, lossOn));
  let seqs: Sequence[] = packDocuments(tokenized, model.config.maxSeqLen, special);
  // Without the mask a row is one running text: records attend to the ones before them and positions run on.
  if (!blockDiagonal) seqs = seqs.map((s) => ({ tokens: s.tokens, targets: s.targets }));
  const perStep = training.batchSize * training.gradientAccumulation;
  // As the trainer: prompt-noise copies share the record's passes, so the run's steps stay those without them.
  const steps = Math.max(1, Math.ceil(((training.epochs * records.length) / tokenized.length * seqs.length) / perStep));
  const trainOptions = {
    steps, batchSize: training.batchSize, gradAccum: training.gradientAccumulation, lr: training.learningRate, warmupSteps: training.warmupSteps,
    weightDecay: training.weightDecay, clipNorm: training.clipNorm, evalEvery: 0, seed: training.seed,
  };
  const loraOptions = { r: lora.rank, alpha: lora.alpha, dropout: lora.dropout, targets: lora.targetModules };
  // Everything that determines the adapter and its sketches, besides the source files (bench/attribution-cache.ts):
  // the rows as this file tokenizes and packs them, and the options it trains with, so an edit here that changes either misses the cache.
  const rows = createHash("sha256");
  for (const q of seqs) rows.update(q.tokens).update(q.targets).update(q.starts ?? new Int32Array(0)).update("|");
  const cache = new AttributionCache({ records: records.map((r) => [r.contributionId, r.contributor, r.record.instruction, r.record.output]), lora, training, noise, lossOn, blockDiagonal, sketch: DEFAULT_SKETCH, rows: rows.digest("hex"), trainOptions, loraOptions });
  if (process.env.ADAPTER_IN) {
    const dir = process.env.ADAPTER_IN;
    const adapter = loadAdapter(dir, model.config, "planted");
    say(`  adapter loaded from ${dir} (not trained in this run)`);
    return { adapter, steps: 0, seconds: 0, loss: NaN, tokens: 0, cache: new AttributionCache(null, "off"), from: `loaded from ${dir}` };
  }
  const hit = cache.lookup();
  // CACHE_ONLY=1: score a fine-tune already in the cache or stop, so a test seed is never trained again by a key that changed.
  if (!hit && process.env.CACHE_ONLY === "1") throw new Error(`CACHE_ONLY=1: no cache entry ${cache.key} for data seed ${SEED} in ${cache.dir} (the training code or the recipe differs from the run that filled it)`);
  if (hit) {
    const m = cache.meta();
    say(`  adapter, index and sketches from the cache ${hit} (trained ${m.trainedAt} at commit ${m.commit}, load average ${m.loadAverage.map((x) => x.toFixed(1)).join(" / ")}; the key matched, so the same bytes would be trained again)${process.env.ADAPTER_OUT ? "; ADAPTER_OUT is not written on a cache hit" : ""}`);
    return { adapter: loadAdapter(hit, model.config, "planted"), steps: m.steps, seconds: m.seconds, loss: m.loss, tokens: m.tokens, cache, from: `from the cache (trained ${m.trainedAt} at commit ${m.commit})` };
  }
  const adapter = createLora(model.config, loraOptions, { id: "planted", seed: training.seed });
  const t0 = now();
  const r = train(model, adapter, { train: seqs, eval: [] }, trainOptions, (e) => {
    if (e.type === "step" && e.step % 50 === 0) say(`  step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(3)} (${e.tokensPerSec.toFixed(0)} tokens/s)`);
  });
  if (process.env.ADAPTER_OUT) saveAdapter(process.env.ADAPTER_OUT, adapter);
  const out = { adapter, steps: r.steps, seconds: (now() - t0) / 1000, loss: r.trainLoss, tokens: tokenized.reduce((s, t) => s + t.tokens.length, 0), cache, from: "trained in this run" };
  const at = cache.store((dir) => saveAdapter(dir, adapter), { steps: out.steps, seconds: out.seconds, loss: out.loss, tokens: out.tokens, commit: gitCommit(), trainedAt: new Date().toISOString(), loadAverage: loadavg() });
  if (at) say(`  adapter saved to the cache ${at}`);
  return out;
}

const WORDINGS = ["trained", "tuning", "heldOut"] as const;
type Wording = (typeof WORDINGS)[number];
const questionOf = (f: PlantedFact, w: Wording) => (w === "trained" ? f.question : w === "tuning" ? f.tuning : f.heldOut);
const ask = (adapter: LoraAdapter, question: string) => generate(model, tokenizer, instructionPrompt(question), { maxTokens: 40, temperature: 0 }, adapter);

const recipeLine = `LoRA r=${lora.rank}, alpha ${lora.alpha}, dropout ${lora.dropout}, ${lora.targetModules.length} projections; lr ${training.learningRate}, ${training.epochs} epochs, batch ${training.batchSize} rows of ≤ ${model.config.maxSeqLen} tokens, warmup ${training.warmupSteps}, cosine to 0.1×; loss on ${training.lossOn ?? "completion"} tokens; prompt noise ${noise.copies ? `${noise.copies} copies at rate ${noise.rate} (${noise.mode})` : "off"}`;
const augmentedFacts = facts.filter((f) => f.augmented).length;
const control = augmentedFacts > 0 && AUGMENT.wordings === 0; // AUGMENT_WORDINGS=0: the single-wording set, reported on the augmented set's facts
const apiLr = TrainingSettings.parse({}).learningRate;
// What the run changed from a job's defaults, by env; none: the product's defaults, lr included.
const overridden = ["LR", "EPOCHS", "WARMUP", "LORA_DROPOUT", "LOSS_ON", "NOISE_COPIES"].filter((k) => process.env[k]);
const recipeSource = overridden.length === 0 ? `the API's default settings for this Datanet, lr included (the schema's ${apiLr}; the bench names none)` : `the API's default settings for this Datanet but ${overridden.map((k) => `${k}=${process.env[k]}`).join(", ")} (the default lr is ${apiLr})`;
const dataLine = `${SIZE.planters} planters × ${SIZE.factsPerPlanter} facts + ${SIZE.distractors} distractors × ${SIZE.recordsPerDistractor} records${augmentedFacts && !control ? ` + ${records.length - SIZE.planters * SIZE.factsPerPlanter - SIZE.distractors * SIZE.recordsPerDistractor} records stating ${augmentedFacts} of the facts (${AUGMENT.fraction} of each planter's) in ${AUGMENT.wordings} more wordings of ${AUGMENT.pool ?? AUGMENT.wordings} per template` : `, each fact in one wording${control ? ` (columns split as the augmented set with ${AUGMENT.fraction} of each planter's facts would be)` : ""}`} = ${records.length} records`;

// What is reported: a wording asked of a set of facts. A paraphrase is only asked of facts it was
// never trained with: the tuning wording is a trained wording for augmented facts, so it is asked
// of the single-wording facts only; the held-out wording is in no record, and its augmented facts
// are reported apart. With no augmentation every column holds every fact, as before.
interface Column { key: string; name: string; wording: Wording; holds: (f: WordedFact) => boolean }
const COLUMNS: Column[] = [
  { key: "trained", name: "trained wording", wording: "trained", holds: () => true },
  { key: "tuning", name: augmentedFacts ? `tuning paraphrase (${control ? "the augmented set's " : ""}single-wording facts)` : "tuning paraphrase", wording: "tuning", holds: (f) => !f.augmented },
  { key: "heldOut", name: augmentedFacts ? `held-out paraphrase (${control ? "the augmented set's " : ""}single-wording facts)` : "held-out paraphrase", wording: "heldOut", holds: (f) => !f.augmented },
  ...(augmentedFacts ? [{ key: "heldOutAugmented", name: `held-out paraphrase (${control ? "the augmented set's " : ""}augmented facts)`, wording: "heldOut" as const, holds: (f: WordedFact) => f.augmented }] : []),
];
const column = (key: string) => COLUMNS.find((c) => c.key === key)!;

if (ABLATION) runAblation();
else if (process.env.SPAN_LATENCY === "1") await runSpanLatency();
else runBenchmark();

// ---- SPAN_LATENCY=1: span attribution's cost alone, at the full data size, with no training ----
// Its cost depends on the index and the call's tokens, not on what the adapter learned, so each
// call's output here is the fact's trained answer (what an adapter that learned it writes).
// The same calls are timed with the span scoring before its per-call allocations were cut
// (bench/attribution-span-baseline.ts), rounds interleaved, and the garbage collections that
// fall inside each one's timed calls are counted (a collection is what a p99 call pays for).
async function runSpanLatency(): Promise<void> {
  const tokenized = records.map((r) => tokenizePieces((t) => tokenizer.encode(t), pieces(r), "completion"));
  const trainTokens = tokenized.reduce((s, t) => s + t.tokens.length, 0);
  const index = decodeSpanIndex(encodeSpanIndex(buildSpanIndex(records.map((r, i) => ({ tokens: tokenized[i]!.tokens, record: { contributionId: r.contributionId, datanetId: "dn_planted", version: 1, contributor: r.contributor } })))), tokenizer.vocabSize);
  const staticWeights = { contributors: [{ address: records[0]!.contributor, weightBps: 10_000 }], datanets: [{ id: "dn_planted", version: 1, weightBps: 10_000 }] };
  const inputs: CallInput[] = [];
  for (const f of facts)
    for (const w of WORDINGS) {
      const ids = tokenizer.encode(instructionPrompt(questionOf(f, w)));
      inputs.push({ requestId: "r", index, prompt: tokenizer.bos !== null ? [tokenizer.bos, ...ids] : ids, output: tokenizer.encode(f.answer), static: staticWeights });
    }
  // Same scores from both, or the comparison means nothing.
  const flat = (m: Map<number, { output: number; context: number }>) => JSON.stringify([...m].sort((a, b) => a[0] - b[0]));
  for (const c of inputs) if (flat(scoreSpans(index, c.prompt, c.output).byRecord) !== flat(scoreSpansBaseline(index, c.prompt, c.output).byRecord)) throw new Error("baseline and current span scoring disagree");
  // The whole per-call step (attributeCall: spans, scoring, roll-up), and the span scoring inside it now and before.
  const variants = { call: (c: CallInput) => attributeCall(c), current: (c: CallInput) => scoreSpans(c.index!, c.prompt, c.output), baseline: (c: CallInput) => scoreSpansBaseline(c.index!, c.prompt, c.output) } as const;
  const NAMES = { call: "attributeCall, whole step (current)", current: "scoreSpans, current (no per-token allocation)", baseline: "scoreSpans before (commit d6245a6)" } as const;
  const ORDERS = [["call", "current", "baseline"], ["baseline", "call", "current"], ["current", "baseline", "call"]] as const;
  for (const f of Object.values(variants)) for (const c of inputs) f(c); // untimed: the position table is built at load, and the JIT warms up
  const gcs: Array<{ at: number; ms: number }> = [];
  const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcs.push({ at: e.startTime, ms: e.duration }); });
  observer.observe({ entryTypes: ["gc"] });
  const ROUNDS = 7;
  const result = Object.fromEntries(Object.keys(variants).map((k) => [k, { wall: [] as number[][], cpu: [] as number[][], windows: [] as Array<[number, number]> }]));
  for (let round = 0; round < ROUNDS; round++)
    for (const name of ORDERS[round % 3]!) {
      const ms: number[] = [], cpu: number[] = [];
      const t0 = performance.now();
      for (const c of inputs) {
        const t = timed(() => variants[name](c));
        ms.push(t.wallMs);
        cpu.push(t.cpuMs);
      }
      result[name]!.windows.push([t0, performance.now()]);
      result[name]!.wall.push(ms);
      result[name]!.cpu.push(cpu);
    }
  // Bytes allocated per call: the heap's growth over one untimed pass of all calls, from a pass that no collection interrupted (up to 20 tries).
  const allocated: Record<string, number> = {};
  for (const [name, f] of Object.entries(variants))
    for (let attempt = 0; attempt < 20 && allocated[name] === undefined; attempt++) {
      const before = gcs.length, h0 = process.memoryUsage().heapUsed;
      for (const c of inputs) f(c);
      const grown = process.memoryUsage().heapUsed - h0;
      await new Promise((r) => setTimeout(r, 20));
      if (gcs.length === before && grown > 0) allocated[name] = grown / inputs.length;
    }
  await new Promise((r) => setTimeout(r, 50)); // let the observer deliver the last entries
  observer.disconnect();
  const stat = (rs: number[][], p: number) => { const v = rs.map((r) => pct(r, p)); return `${fmt(median(v))} ms (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})`; };
  const gcIn = (w: Array<[number, number]>) => { const hit = gcs.filter((g) => w.some(([a, b]) => g.at >= a && g.at < b)); return { n: hit.length / ROUNDS, ms: hit.reduce((s, g) => s + g.ms, 0) / ROUNDS }; };
  say(`Span attribution alone (${dataLine}, ${trainTokens} indexed tokens; ${inputs.length} calls per round, outputs = the trained answers; ${ROUNDS} rounds of each, interleaved; median of rounds, min–max). Load average ${loadavg().map((x) => x.toFixed(1)).join(" / ")} on ${cpus().length} cores.`);
  say("");
  say("| per call | wall p50 | wall p99 | wall max | CPU p50 | CPU p99 | collections per round | collection time per round | heap allocated per call |");
  say("|---|---|---|---|---|---|---|---|---|");
  for (const [name, r] of Object.entries(result)) {
    const g = gcIn(r.windows);
    say(`| ${NAMES[name as keyof typeof NAMES]} | ${stat(r.wall, 0.5)} | ${stat(r.wall, 0.99)} | ${stat(r.wall, 1)} | ${stat(r.cpu, 0.5)} | ${stat(r.cpu, 0.99)} | ${g.n.toFixed(1)} | ${fmt(g.ms)} ms | ${allocated[name] === undefined ? "–" : `${(allocated[name]! / 1024).toFixed(1)} KiB`} |`);
  }
  const mean = (rs: number[][]) => median(rs.map((r) => r.reduce((s, x) => s + x, 0) / r.length));
  say("");
  say(`Mean CPU per call of scoreSpans, median of rounds: current ${fmt(mean(result.current!.cpu))} ms, before ${fmt(mean(result.baseline!.cpu))} ms (before / current ${(mean(result.baseline!.cpu) / mean(result.current!.cpu)).toFixed(2)}×).`);
}

// ---- issue 12 item 5: what completion-only loss and the block-diagonal mask do ----------------
function runAblation(): void {
  say(`ablation data: ${dataLine}; default recipe: ${recipeLine}`);
  const owners = records.map((r) => ({ contributionId: r.contributionId, datanetId: "dn_planted", version: 1, contributor: r.contributor }));
  const index = buildSpanIndex(records.map((r, i) => ({ tokens: tokenizePieces((t) => tokenizer.encode(t), pieces(r), "completion").tokens, record: owners[i]! })));
  const staticWeights = { contributors: [{ address: records[0]!.contributor, weightBps: 10_000 }], datanets: [{ id: "dn_planted", version: 1, weightBps: 10_000 }] };
  const rows: string[] = [];
  for (const [name, lossOn, mask] of [["completion-only loss, block-diagonal mask (the default)", "completion", true], ["loss on all tokens, block-diagonal mask", "all", true], ["completion-only loss, no mask (records attend across the row)", "completion", false]] as const) {
    say(`${name}…`);
    const ft = fineTune(lossOn, mask);
    const cell: string[] = [];
    for (const w of ["trained", "tuning"] as const) {
      let right = 0, hits = 0;
      for (const f of facts) {
        const prompt = instructionPrompt(questionOf(f, w));
        const g = ask(ft.adapter, questionOf(f, w));
        if (g.text.trim() === f.answer) right++;
        const ids = tokenizer.encode(prompt);
        const promptIds = tokenizer.bos !== null && ids[0] !== tokenizer.bos ? [tokenizer.bos, ...ids] : ids;
        const output = g.tokens.at(-1) === tokenizer.eos ? g.tokens.slice(0, -1) : g.tokens;
        const a = attributeCall({ requestId: "r", index, prompt: promptIds, output, static: staticWeights }).attribution;
        if (a.method !== "static" && a.contributors[0]?.address === f.planter) hits++;
      }
      cell.push(`${(100 * right / facts.length).toFixed(1)}%`, (hits / facts.length).toFixed(3));
    }
    say(`  ${ft.steps} steps, ${ft.seconds.toFixed(0)} s, last loss ${ft.loss.toFixed(3)}`);
    say(`  row: | ${name} | ${cell[0]} | ${cell[2]} | ${cell[1]} | ${cell[3]} |`);
    rows.push(`| ${name} | ${cell[0]} | ${cell[2]} | ${cell[1]} | ${cell[3]} | ${ft.loss.toFixed(3)} | ${ft.steps} steps, ${ft.seconds.toFixed(0)} s |`);
  }
  say("");
  say(`### Loss mask and packing (${dataLine}; seed ${SEED}; ${recipeLine})`);
  say("");
  say("| recipe | exact answers, trained wording | exact answers, tuning paraphrase | span precision@1, trained | span precision@1, tuning paraphrase | last step's loss | fine-tune |");
  say("|---|---|---|---|---|---|---|");
  for (const r of rows) say(r);
  say("");
  say(`The last step's loss is over the tokens each recipe trains on (responses only, or every token), so it compares runs of one loss mask only. Machine: ${cpus().length} cores shared with other work, load average ${loadavg().map((x) => x.toFixed(1)).join(" / ")} at the end, Node ${process.version}.`);
}

// ---- issue 11 item 4: accuracy, precision@1, latency, index size ------------------------------
function runBenchmark(): void {
  say(`data: ${dataLine}; recipe (${recipeSource}): ${recipeLine}`);
  const ft = fineTune(training.lossOn ?? "completion", true);
  const { adapter } = ft;
  say(`fine-tune: ${ft.steps} steps, ${ft.seconds.toFixed(0)} s, last loss ${ft.loss.toFixed(3)}`);

  // The trainer's attribution files.
  const tokenized = records.map((r) => tokenizePieces((t) => tokenizer.encode(t), pieces(r), "completion"));
  const trainTokens = tokenized.reduce((s, t) => s + t.tokens.length, 0);
  const owners = records.map((r) => ({ contributionId: r.contributionId, datanetId: "dn_planted", version: 1, contributor: r.contributor }));
  let t0 = now();
  const indexBytes = encodeSpanIndex(buildSpanIndex(records.map((r, i) => ({ tokens: tokenized[i]!.tokens, record: owners[i]! }))));
  const indexBuildMs = now() - t0;
  t0 = now();
  const index: SpanIndex = decodeSpanIndex(indexBytes, tokenizer.vocabSize); // what serving loads (checked)
  const indexLoadMs = now() - t0;
  // The index is rebuilt every run (milliseconds, and its build time is reported); a cached one must be the same bytes.
  const cachedIndex = ft.cache.file(INDEX_FILE);
  if (cachedIndex && Buffer.compare(Buffer.from(cachedIndex), Buffer.from(indexBytes)) !== 0) throw new Error(`the cached ${INDEX_FILE} differs from the index built now: the cache key misses something`);
  if (!cachedIndex) ft.cache.addFile(INDEX_FILE, indexBytes);
  // Sketches (seconds to minutes: a backward per record) come from the cache when it has them; their time per record is the run that computed them.
  const cachedSketches = ft.cache.file(SKETCH_FILE);
  let sketches: SketchSet, sketchMs: number;
  if (cachedSketches) {
    sketches = decodeSketches(cachedSketches, index);
    sketchMs = Number(decodeSafetensors(cachedSketches, SKETCH_FILE).metadata.sketchMs ?? NaN);
  } else {
    t0 = now();
    sketches = sketchRecords(model, adapter, tokenized, special, DEFAULT_SKETCH);
    sketchMs = now() - t0;
    ft.cache.addFile(SKETCH_FILE, encodeSketches(sketches, owners.map((o) => o.contributionId), { sketchMs: String(sketchMs) }));
  }
  say(`index: ${indexBytes.length} bytes (${(indexBytes.length / trainTokens).toFixed(1)} per training token); sketches ${fmt(sketchMs / records.length)} ms per record${cachedSketches ? " (when computed; read from the cache now)" : ""}`);
  // TRAIN_ONLY=1: fill the cache and stop before any question is asked, so a test seed can be
  // trained while the settings are still being chosen on the others, without its answers being seen.
  if (process.env.TRAIN_ONLY === "1") {
    if (!ft.cache.lookup()) throw new Error("TRAIN_ONLY=1 keeps nothing with the cache off (ATTRIBUTION_CACHE=off) or with ADAPTER_IN");
    say(`TRAIN_ONLY=1: the adapter, index and sketches are in ${ft.cache.lookup()}; nothing was asked`);
    return;
  }

  // The static weights (share of training tokens): the fallback and the baseline.
  const tokensOf = new Map<string, number>();
  records.forEach((r, i) => tokensOf.set(r.contributor, (tokensOf.get(r.contributor) ?? 0) + tokenized[i]!.tokens.length));
  const staticTop = [...tokensOf].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  const staticWeights = { contributors: [...tokensOf].map(([address, n]) => ({ address, weightBps: Math.round((10_000 * n) / trainTokens) })), datanets: [{ id: "dn_planted", version: 1, weightBps: 10_000 }] };

  // Ask every fact in every wording.
  interface Call { fact: WordedFact; wording: Wording; correct: boolean; text: string; input: CallInput; completion: number[]; query?: Float32Array }
  const calls: Call[] = [];
  for (const fact of facts)
    for (const wording of WORDINGS) {
      const prompt = instructionPrompt(questionOf(fact, wording));
      const g = generate(model, tokenizer, prompt, { maxTokens: 40, temperature: 0 }, adapter);
      const ids = tokenizer.encode(prompt);
      const promptIds = tokenizer.bos !== null && ids[0] !== tokenizer.bos ? [tokenizer.bos, ...ids] : ids;
      const output = g.tokens.at(-1) === tokenizer.eos ? g.tokens.slice(0, -1) : g.tokens;
      calls.push({ fact, wording, correct: g.text.trim() === fact.answer, text: g.text.trim(), completion: g.tokens, input: { requestId: `req_${calls.length}`, index, prompt: promptIds, output, static: staticWeights } });
    }
  if (process.env.VERBOSE === "1") for (const c of calls) if (c.wording !== "trained") say(`  ${c.correct ? "right" : "WRONG"} ${c.wording}${c.fact.augmented ? " (augmented fact)" : ""}: ${questionOf(c.fact, c.wording)} → ${c.text}${c.correct ? "" : ` (want ${c.fact.answer})`}`);
  const inColumn = (c: Call, col: Column) => c.wording === col.wording && col.holds(c.fact);
  const accOf = (col: Column) => { const sel = calls.filter((c) => inColumn(c, col)); return sel.filter((c) => c.correct).length / sel.length; };
  const accLine = (bold: boolean) => COLUMNS.map((col) => `${col.name} ${bold ? "**" : ""}${(100 * accOf(col)).toFixed(1)}%${bold ? "**" : ""} (${calls.filter((c) => inColumn(c, col) && c.correct).length} of ${calls.filter((c) => inColumn(c, col)).length})`).join(", ");
  say(`exact answers: ${accLine(false)}`);

  // One untimed pass first: serving builds the index's position table when it loads the index
  // and the JIT has compiled the scoring after the first calls; neither is a per-call cost.
  for (const c of calls) attributeCall(c.input);
  // Span latency: rounds of every call, apart from the gradient pass so one's garbage does not land in the other's numbers.
  const spanRounds: number[][] = [], spanCpuRounds: number[][] = [];
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    const ms: number[] = [], cpu: number[] = [];
    for (const c of calls) {
      const t = timed(() => attributeCall(c.input));
      ms.push(t.wallMs);
      cpu.push(t.cpuMs);
    }
    spanRounds.push(ms);
    spanCpuRounds.push(cpu);
  }
  // Gradient: one pass (the answer-margin backward dominates), keeping each call's sketch; wall and CPU time, as for span.
  const gradMs: number[] = [], gradCpuMs: number[] = [];
  for (const c of calls) {
    const t = timed(() => {
      c.query = sketchCall(model, adapter, c.input.prompt, c.completion, DEFAULT_SKETCH);
      attributeCall({ ...c.input, gradient: { sketches, query: c.query } }, { minSpanScore: Infinity });
    });
    gradMs.push(t.wallMs);
    gradCpuMs.push(t.cpuMs);
  }

  type Method = "span" | "gradient" | "gradientCentred" | "combined";
  // gradientCentred: the cosine about the records' mean sketch (an option of core/attribution/gradient-attribution.ts, not the default), kept as a row.
  const CENTRED = { centre: true, minCosine: DEFAULT_GRADIENT_OPTIONS.minCosine };
  const DEFAULT_SHARE = DEFAULT_ATTRIBUTION_OPTIONS.spanShare;
  const topOf = (c: Call, m: Method, spanShare = DEFAULT_SHARE): string => {
    const a = m === "span" ? attributeCall(c.input).attribution
      : m === "gradient" ? attributeCall({ ...c.input, gradient: { sketches, query: c.query! } }, { minSpanScore: Infinity, gradient: GRADIENT }).attribution
      : m === "gradientCentred" ? attributeCall({ ...c.input, gradient: { sketches, query: c.query! } }, { minSpanScore: Infinity, gradient: CENTRED }).attribution
      : attributeCall({ ...c.input, gradient: { sketches, query: c.query! } }, { spanShare, gradient: GRADIENT }).attribution;
    return a.method === "static" ? "" : (a.contributors[0]?.address ?? "");
  };
  const precision = (pick: (c: Call) => string, col: Column, onlyCorrect = false) => {
    const sel = calls.filter((c) => inColumn(c, col) && (!onlyCorrect || c.correct));
    return { p: sel.length ? sel.filter((c) => pick(c) === c.fact.planter).length / sel.length : NaN, n: sel.length };
  };
  const cell = (r: { p: number; n: number }) => (r.n ? `${r.p.toFixed(3)} (n=${r.n})` : "–");

  // The span share of the combined score, chosen on the tuning paraphrases only.
  const SHARES = [0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99];
  const tuned = SHARES.map((s) => ({ s, p: precision((c) => topOf(c, "combined", s), column("tuning")).p }));
  let best = tuned.find((t) => t.s === DEFAULT_SHARE) ?? tuned[0]!; // the default unless another share is strictly better
  for (const t of tuned) if (t.p > best.p) best = t;

  say("");
  say(`### Planted facts (${dataLine}, ${trainTokens} training tokens; data seed ${SEED}, ${seedRole})`);
  say("");
  say(`Fine-tune with ${recipeSource} (${recipeLine}): ${ft.steps} steps, ${ft.seconds.toFixed(0)} s. Exact answers: ${accLine(true)} (goal on the trained wording: ≥ ${100 * TARGET_ACCURACY}%, ${accOf(column("trained")) >= TARGET_ACCURACY ? "met" : "not met"}).`);
  say("");
  say(`| top contributor = planter (precision@1) | ${COLUMNS.map((col) => col.name).join(" | ")} | ${COLUMNS.map((col) => `${col.name}, answered right`).join(" | ")} |`);
  say(`|---|${COLUMNS.map(() => "---|---|").join("")}`);
  const rowsOf: Array<[string, (c: Call) => string]> = [
    ["span", (c) => topOf(c, "span")],
    [`gradient (cosine ≥ ${GRADIENT.minCosine ?? DEFAULT_GRADIENT_OPTIONS.minCosine}${GRADIENT.minCosine === undefined ? ", the default" : ", GRAD_MIN_COSINE"})`, (c) => topOf(c, "gradient")],
    [`gradient (cosine about the records' mean ≥ ${CENTRED.minCosine}, an option)`, (c) => topOf(c, "gradientCentred")],
    [`combined (span share ${DEFAULT_SHARE}, the default)`, (c) => topOf(c, "combined")],
    [`combined (span share ${best.s}, best on this seed's tuning paraphrases${TEST_SEEDS.includes(SEED) ? ": a test seed, so for reference only" : ""})`, (c) => topOf(c, "combined", best.s)],
    ["static weights (baseline: largest token share)", () => staticTop],
  ];
  for (const [name, pick] of rowsOf) say(`| ${name} | ${COLUMNS.map((col) => cell(precision(pick, col))).join(" | ")} | ${COLUMNS.map((col) => cell(precision(pick, col, true))).join(" | ")} |`);
  say(`| chance (1 of ${SIZE.planters} planters) | ${(1 / SIZE.planters).toFixed(3)} |${" |".repeat(2 * COLUMNS.length - 1)}`);
  say("");
  say(`Span share tried on the tuning paraphrases (combined precision@1): ${tuned.map((t) => `${t.s} → ${t.p.toFixed(3)}`).join(", ")}.`);
  // The gradient method's threshold, tried the same way (gradient alone; tuning → held-out), from the same call sketches.
  const gradTop = (c: Call, minCosine: number) => { const a = attributeCall({ ...c.input, gradient: { sketches, query: c.query! } }, { minSpanScore: Infinity, gradient: { minCosine } }).attribution; return a.method === "static" ? "" : (a.contributors[0]?.address ?? ""); };
  const thresholds = [0, 0.05, 0.1, 0.15, 0.2].map((m) => ({ m, tuning: precision((c) => gradTop(c, m), column("tuning")).p, heldOut: precision((c) => gradTop(c, m), column("heldOut")).p }));
  say(`Gradient threshold tried on the tuning paraphrases (gradient precision@1, tuning → held-out): ${thresholds.map((x) => `cosine ≥ ${x.m} ${x.tuning.toFixed(3)} → ${x.heldOut.toFixed(3)}`).join(", ")} (the default is ${DEFAULT_GRADIENT_OPTIONS.minCosine}).`);
  // Shortest span that counts, chosen the same way (span method alone).
  const spanTop = (c: Call, minSpanTokens: number) => { const a = attributeCall(c.input, { span: { minSpanTokens } }).attribution; return a.method === "static" ? "" : (a.contributors[0]?.address ?? ""); };
  const minSpans = [3, 4, 6, 8].map((m) => ({ m, tuning: precision((c) => spanTop(c, m), column("tuning")).p, heldOut: precision((c) => spanTop(c, m), column("heldOut")).p }));
  say(`Shortest counted span tried on the tuning paraphrases (span precision@1, tuning → held-out): ${minSpans.map((x) => `${x.m} tokens ${x.tuning.toFixed(3)} → ${x.heldOut.toFixed(3)}`).join(", ")} (the default is 4).`);
  // What the wrong paraphrase answers are: another fact's answer word for word, an answer that
  // names the asked entity with wrong words, or neither; and whom span attribution names for each.
  const answerOwner = new Map(facts.map((f) => [f.answer, f.planter]));
  const asked = calls.filter((c) => c.wording !== "trained" && COLUMNS.some((col) => inColumn(c, col)));
  const wrong = asked.filter((c) => !c.correct);
  const echo = wrong.filter((c) => answerOwner.has(c.text)), named = wrong.filter((c) => !answerOwner.has(c.text) && c.text.includes(c.fact.entity)), other = wrong.filter((c) => !answerOwner.has(c.text) && !c.text.includes(c.fact.entity));
  const share = (xs: Call[], who: (c: Call) => string) => (xs.length ? `${xs.filter((c) => topOf(c, "span") === who(c)).length} of ${xs.length}` : "0 of 0");
  say(`Wrong paraphrase answers (${wrong.length} of ${asked.length}): ${echo.length} repeat another fact's trained answer word for word (span names that fact's planter in ${share(echo, (c) => answerOwner.get(c.text)!)}, the asked fact's planter in ${share(echo, (c) => c.fact.planter)}); ${named.length} name the asked entity with wrong words (span names its planter in ${share(named, (c) => c.fact.planter)}); ${other.length} do neither (planter named in ${share(other, (c) => c.fact.planter)}).`);
  const byGradient = (xs: Call[], who: (c: Call) => string) => (xs.length ? `${xs.filter((c) => topOf(c, "gradient") === who(c)).length} of ${xs.length}` : "0 of 0");
  say(`Gradient on the same wrong answers: it names the repeated fact's planter in ${byGradient(echo, (c) => answerOwner.get(c.text)!)} of the repeats (the asked fact's in ${byGradient(echo, (c) => c.fact.planter)}), the asked entity's planter in ${byGradient(named, (c) => c.fact.planter)} of those naming it and in ${byGradient(other, (c) => c.fact.planter)} of the rest.`);
  say("");
  const stat = (rounds: number[][], p: number) => { const v = rounds.map((r) => pct(r, p)); return `${fmt(median(v))} ms (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})`; };
  say(`| attribution added per call (${calls.length} calls) | p50 | p99 |`);
  say("|---|---|---|");
  say(`| span (index lookup, scoring, roll-up; median of ${LATENCY_ROUNDS} rounds, min–max): wall time | ${stat(spanRounds, 0.5)} | ${stat(spanRounds, 0.99)} |`);
  say(`| span, CPU time of the process (the same calls) | ${stat(spanCpuRounds, 0.5)} | ${stat(spanCpuRounds, 0.99)} |`);
  say(`| gradient (answer-margin forward and backward, projection, ${records.length} cosines; one round): wall time | ${fmt(pct(gradMs, 0.5))} ms | ${fmt(pct(gradMs, 0.99))} ms |`);
  say(`| gradient, CPU time of the process (the same calls) | ${fmt(pct(gradCpuMs, 0.5))} ms | ${fmt(pct(gradCpuMs, 0.99))} ms |`);
  say(`| ratio gradient / span at p50 | ${(pct(gradMs, 0.5) / median(spanRounds.map((r) => pct(r, 0.5)))).toFixed(0)}× | |`);
  say("");
  say(`Index: ${indexBytes.length} bytes for ${trainTokens} training tokens = ${(indexBytes.length / trainTokens).toFixed(1)} bytes per token (tokens + suffix array, 4 bytes each, plus record owners); built in ${fmt(indexBuildMs)} ms, loaded and checked in ${fmt(indexLoadMs)} ms. Sketches: ${sketches.k} floats per record (${sketches.k * 4} bytes), ${fmt(sketchMs / records.length)} ms per record at the end of training.`);
  say("");
  say(`Machine: ${cpus().length} CPU cores shared with other work, load average ${loadavg().map((x) => x.toFixed(1)).join(" / ")} at the end (1/5/15 min), Node ${process.version}.`);
}
