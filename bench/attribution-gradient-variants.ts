// Gradient attribution variants on a saved adapter (issue 11). Three choices, crossed:
// - the output function whose gradient is taken (LOSSES): the mean cross-entropy of the answer
//   tokens (ce, the records' sketches); TRAK's margin log(p/(1−p)) per token (margin:
//   the cross-entropy gradient of each token divided by 1 − p, so a memorised token, p ≈ 1, keeps
//   its direction instead of vanishing); and either weighted per token by the token's rarity
//   over the indexed records, ln((N+1)/df) (ceIdf, marginIdf: the answer's template words,
//   which every record of a template shares, weigh little, its made-up names much);
// - which parameters' gradients (PARAMS): all; lora_B or lora_A only; MLP only; each tensor
//   unit-normalised (LoGra / TracIn practice);
// - the projection size k (256, the trainer's before this evening, or 2048, its default now) and the scorer: plain cosine, or
//   cosine about the records' mean sketch, at thresholds 0, 0.1 and 0.2.
// The trainer's records are sketched by ce and calls by margin (ce>margin) since this evening.
// Each variant's top contributor (the sum of the 32 best records' scores) against the planter,
// on every call and on the calls answered right. The data is bench/attribution.ts's (same env
// switches and the same defaults: PLANTERS, FACTS, DISTRACTORS, DISTRACTOR_RECORDS,
// AUGMENT_FRACTION, AUGMENT_WORDINGS, SEED), the adapter the one that bench saved with ADAPTER_OUT
// for the same SEED. Rows: PAIRS=ce>ce,ce>margin (records' loss > the call's) PARAMS=full,onlyB KS=256 pick subsets.
// Usage: ADAPTER_IN=dir SEED=n npx node bench/attribution-gradient-variants.ts
import { attributeCall, buildSpanIndex, projectGradient, type CallInput } from "../core/attribution/index.ts";
import { BASE_MODEL_DIR, backward, createGrads, forwardTrain, generate, loadAdapter, loadHfModel, packDocuments, paramList } from "../containers/engine/index.ts";
import { callSequence } from "../containers/trainer/gradient-sketch.ts";
import { formatRecordPieces, instructionPrompt, tokenizePieces } from "../containers/trainer/records.ts";
import { plantedFactsAugmented } from "./attribution-wordings.ts";

const env = (n: string, d: number) => (process.env[n] ? Number(process.env[n]) : d);
const list = (n: string, d: string[]) => (process.env[n] ? process.env[n]!.split(",") : d);
const SEED = env("SEED", 1);
const SIZE = { planters: env("PLANTERS", 8), factsPerPlanter: env("FACTS", 20), distractors: env("DISTRACTORS", 4), recordsPerDistractor: env("DISTRACTOR_RECORDS", 10) };
const { records, facts } = plantedFactsAugmented({ ...SIZE, seed: SEED }, { fraction: env("AUGMENT_FRACTION", 0.75), wordings: env("AUGMENT_WORDINGS", 4), pool: process.env.AUGMENT_POOL ? Number(process.env.AUGMENT_POOL) : undefined });
const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
if (!process.env.ADAPTER_IN) throw new Error("ADAPTER_IN=dir: an adapter saved by bench:attribution with ADAPTER_OUT (the same SEED)");
const adapter = loadAdapter(process.env.ADAPTER_IN, model.config, "planted");
const special = { bos: tokenizer.bos, eos: tokenizer.eos };
const PROJ_SEED = 20_261_201, V = model.config.vocabSize;
type Parts = Float32Array[];

const tok = records.map((r) => tokenizePieces((t) => tokenizer.encode(t), formatRecordPieces("instruction", r.record)!, "completion"));
// Token rarity over the records as the span index holds them (every record's tokens, prompt and answer).
const df = new Float64Array(V);
for (const t of tok) for (const id of new Set(t.tokens)) df[id]!++;
const N = records.length;
if (special.eos !== null) df[special.eos] = N; // every record's answer ends with it (the index holds no EOS)
const idf = (id: number) => Math.log((N + 1) / (df[id]! + 1));

const LOSSES: Record<string, { margin: boolean; idf: boolean }> = { ce: { margin: false, idf: false }, margin: { margin: true, idf: false }, ceIdf: { margin: false, idf: true }, marginIdf: { margin: true, idf: true } };
/** ∂(output function)/∂logits for each target position, mean over the targets. */
function dlogitsOf(logits: ArrayLike<number>, targets: ArrayLike<number>, how: { margin: boolean; idf: boolean }): Float32Array {
  const T = targets.length, d = new Float32Array(T * V);
  let count = 0;
  for (let t = 0; t < T; t++) if (targets[t]! >= 0) count++;
  const p = new Float64Array(V);
  for (let t = 0; t < T; t++) {
    const y = targets[t]!;
    if (y < 0) continue;
    const o = t * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j]! > max) max = logits[o + j]!;
    let z = 0;
    for (let j = 0; j < V; j++) z += p[j] = Math.exp(logits[o + j]! - max);
    let rest = 0; // 1 − p_y, summed so it keeps its precision when p_y ≈ 1
    for (let j = 0; j < V; j++) { p[j]! /= z; if (j !== y) rest += p[j]!; }
    const w = (how.idf ? idf(y) : 1) / count / (how.margin ? Math.max(rest, 1e-12) : 1);
    for (let j = 0; j < V; j++) d[o + j] = (j === y ? -rest : p[j]!) * w;
  }
  return d;
}
function gradParts(rows: Array<{ tokens: ArrayLike<number>; targets: ArrayLike<number>; starts: ArrayLike<number> | null }>, how: { margin: boolean; idf: boolean }): Parts {
  const g = createGrads(model, adapter, false);
  for (const row of rows) {
    const { tape, count } = forwardTrain(model, adapter, row.tokens, row.targets, null, Float32Array, row.starts);
    if (count === 0) continue;
    tape.dlogits = dlogitsOf(tape.logits, row.targets, how);
    backward(model, adapter, tape, row.targets, g);
  }
  return paramList(model, adapter, g).map((p) => Float32Array.from(p.grad as Float32Array));
}
const names = paramList(model, adapter, createGrads(model, adapter, false)).map((p) => p.name);
const norm = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!; return Math.sqrt(s); };
const zero = (x: Float32Array) => new Float32Array(x.length);
const PARAMS: Record<string, (p: Parts) => Parts> = {
  full: (p) => p,
  onlyB: (p) => p.map((x, i) => (names[i]!.endsWith(".B") ? x : zero(x))),
  onlyA: (p) => p.map((x, i) => (names[i]!.endsWith(".A") ? x : zero(x))),
  mlp: (p) => p.map((x, i) => (/gate|up|down/.test(names[i]!) ? x : zero(x))),
  perTensor: (p) => p.map((x) => { const n = norm(x); return n > 0 ? x.map((v) => v / n) : x; }),
};
const paramNames = list("PARAMS", Object.keys(PARAMS)), ks = list("KS", ["256", "2048"]).map(Number);
// Record side > call side: the stored sketches may stay the training-loss gradient while the call's changes (PAIRS=ce>margin,…).
const pairs = list("PAIRS", ["ce>ce", "ce>margin", "ce>ceIdf", "margin>margin", "ceIdf>ceIdf", "marginIdf>marginIdf"]).map((x) => x.split(">") as [string, string]);
const recLosses = [...new Set(pairs.map((p) => p[0]))], callLosses = [...new Set(pairs.map((p) => p[1]))];
const variantNames: string[] = [];
for (const [r, c] of pairs) for (const p of paramNames) for (const k of ks) variantNames.push(`${r}>${c}|${p}|${k}`);
const sketches = (rows: Parameters<typeof gradParts>[0], losses: string[]): Record<string, Float32Array> => {
  const out: Record<string, Float32Array> = {};
  for (const l of losses) {
    const parts = gradParts(rows, LOSSES[l]!);
    for (const p of paramNames) { const pp = PARAMS[p]!(parts); for (const k of ks) out[`${l}|${p}|${k}`] = projectGradient(pp, k, PROJ_SEED); }
  }
  return out;
};
const recKey = (v: string) => { const [pair, p, k] = v.split("|"); return `${pair!.split(">")[0]}|${p}|${k}`; };
const callKey = (v: string) => { const [pair, p, k] = v.split("|"); return `${pair!.split(">")[1]}|${p}|${k}`; };

let t0 = Date.now();
const recSk = tok.map((t) => sketches(packDocuments([t], model.config.maxSeqLen, special).map((r) => ({ tokens: r.tokens, targets: r.targets, starts: r.starts ?? null })), recLosses));
console.error(`records sketched in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
const W = ["trained", "tuning", "heldOut"] as const;
interface C { planter: string; w: string; right: boolean; q: string; s: Record<string, Float32Array>; prompt: number[]; output: number[] }
const calls: C[] = [];
t0 = Date.now();
for (const f of facts) for (const w of W) {
  if (w === "tuning" && f.augmented) continue; // as the bench: a paraphrase is only asked of facts never trained in it
  const q = w === "trained" ? f.question : w === "tuning" ? f.tuning : f.heldOut;
  const prompt = instructionPrompt(q);
  const g = generate(model, tokenizer, prompt, { maxTokens: 40, temperature: 0 }, adapter);
  const ids = tokenizer.encode(prompt), pIds = ids[0] === tokenizer.bos ? ids : [tokenizer.bos!, ...ids];
  const { tokens, targets } = callSequence(pIds, g.tokens, model.config.maxSeqLen);
  calls.push({ planter: f.planter, w: w === "heldOut" && f.augmented ? "heldOutAug" : w, right: g.text.trim() === f.answer, q: q.replace(f.entity, "·"), s: sketches([{ tokens, targets, starts: null }], callLosses), prompt: pIds, output: g.tokens.at(-1) === tokenizer.eos ? g.tokens.slice(0, -1) : g.tokens });
}
console.error(`${calls.length} calls generated and sketched in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

const dot = (a: Float32Array, b: Float32Array) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };
function scorers(variant: string): Record<string, (q: Float32Array) => Float64Array> {
  const R = recSk.map((r) => r[recKey(variant)]!), K = R[0]!.length;
  const mean = new Float32Array(K);
  for (const r of R) for (let i = 0; i < K; i++) mean[i]! += r[i]! / R.length;
  const sub = (a: Float32Array) => a.map((x, i) => x - mean[i]!);
  const unit = (a: Float32Array) => { const n = norm(a) || 1; return a.map((x) => x / n); };
  const Ru = R.map(unit), Rc = R.map((r) => unit(sub(r)));
  const cosAll = (rs: Float32Array[], q: Float32Array) => { const qu = unit(q), o = new Float64Array(rs.length); rs.forEach((r, i) => (o[i] = dot(qu, r))); return o; };
  return { cos: (q) => cosAll(Ru, q), centred: (q) => cosAll(Rc, sub(q)) };
}
const top = (scores: Float64Array, minCos: number) => {
  const idx = [...scores].map((s, i) => [i, s] as const).filter(([, s]) => s >= minCos).sort((a, b) => b[1] - a[1]).slice(0, 32);
  const by = new Map<string, number>();
  for (const [i, s] of idx) by.set(records[i]!.contributor, (by.get(records[i]!.contributor) ?? 0) + s);
  return { planter: [...by].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "", record: idx[0]?.[0] ?? -1 };
};
const cols = ["trained", "tuning", "heldOut", "heldOutAug"];
console.log(`seed ${SEED}, ${records.length} records, ${calls.length} calls; precision@1 all / answered right (n)`);
console.log(`| loss (records > call) | params | k | scorer | ${cols.join(" | ")} |`);
console.log(`|---|---|---|---|${cols.map(() => "---|").join("")}`);
for (const v of variantNames) {
  const sc = scorers(v);
  for (const [sn, f] of Object.entries(sc)) {
   const scores = calls.map((c) => f(c.s[callKey(v)]!)); // once per scorer, for every threshold
   for (const minCos of [0, 0.1, 0.2]) {
    const res = scores.map((s) => top(s, minCos));
    const cell = (col: string) => {
      const sel = calls.map((c, i) => ({ c, hit: res[i]!.planter === c.planter })).filter((x) => x.c.w === col);
      if (!sel.length) return "–";
      const right = sel.filter((x) => x.c.right);
      return `${(sel.filter((x) => x.hit).length / sel.length).toFixed(3)} / ${right.length ? (right.filter((x) => x.hit).length / right.length).toFixed(3) : "–"} (${sel.length}/${right.length})`;
    };
    // Of the tuning calls whose top contributor is wrong: how many have, as their best record, one whose prompt is in the call's own wording (another entity).
    const wrongTuning = calls.map((c, i) => ({ c, r: res[i]! })).filter((x) => x.c.w === "tuning" && x.r.planter !== x.c.planter);
    const sameWording = wrongTuning.filter((x) => x.r.record >= 0 && (() => { const rec = records[x.r.record]!; const e = rec.fact?.entity; return e ? instructionOf(rec).replace(e, "·") === x.c.q : false; })()).length;
    console.log(`| ${v.split("|").join(" | ")} | ${sn} ≥ ${minCos} | ${cols.map(cell).join(" | ")} | tuning misses with a same-wording best record: ${sameWording} of ${wrongTuning.length} |`);
  }
  }
}
function instructionOf(r: (typeof records)[number]): string { return r.record.instruction; }

// The combined score through core/attribution's attributeCall itself (span index built as the
// trainer builds it), by span share, for the gradient variants in COMBINE (records' loss > call's
// | parameters | k | cos or centred | threshold; default: the trainer's and serving's defaults).
const index = buildSpanIndex(records.map((r, i) => ({ tokens: tok[i]!.tokens, record: { contributionId: r.contributionId, datanetId: "dn_planted", version: 1, contributor: r.contributor } })));
const STATIC = { contributors: [{ address: records[0]!.contributor, weightBps: 10_000 }], datanets: [{ id: "dn_planted", version: 1, weightBps: 10_000 }] };
const inputOf = (c: C): CallInput => ({ requestId: "r", index, prompt: c.prompt, output: c.output, static: STATIC });
const precisionOf = (pick: (c: C) => string, col: string, onlyRight = false) => { const sel = calls.filter((c) => c.w === col && (!onlyRight || c.right)); return sel.length ? (sel.filter((c) => pick(c) === c.planter).length / sel.length).toFixed(3) : "–"; };
const topAddr = (a: { method: string; contributors: Array<{ address: string }> }) => (a.method === "static" ? "" : (a.contributors[0]?.address ?? ""));
// Best span evidence per call, and the distribution on the tuning calls, right and wrong.
const bestSpanOf = (c: C) => { const a = attributeCall(inputOf(c)); let b = 0; for (const r of a.evidence.records) b = Math.max(b, r.output + r.context); return b; };
for (const col of ["tuning", "heldOut"]) for (const right of [true, false]) {
  const v = calls.filter((c) => c.w === col && c.right === right).map(bestSpanOf).sort((a, b) => a - b);
  console.log(`best span evidence, ${col}, answered ${right ? "right" : "wrong"} (n=${v.length}): ${v.map((x) => x.toFixed(0)).join(" ")}`);
}
console.log(`span alone: ${cols.map((col) => `${col} ${precisionOf((c) => topAddr(attributeCall(inputOf(c)).attribution), col)}`).join(", ")}`);
for (const spec of list("COMBINE", ["ce>margin|full|2048|cos|0.1"])) {
  const [pair, p, k, scorer, minCos] = spec.split("|");
  const v = `${pair}|${p}|${k}`, K = Number(k);
  const sk = new Float32Array(records.length * K);
  recSk.forEach((r, i) => sk.set(r[recKey(v)]!, i * K));
  const gradient = { centre: scorer === "centred", minCosine: Number(minCos) };
  const withG = (c: C, o: object) => topAddr(attributeCall({ ...inputOf(c), gradient: { sketches: { k: K, seed: PROJ_SEED, sketches: sk }, query: c.s[callKey(v)]! } }, { gradient, ...o }).attribution);
  console.log(`\n${spec}: gradient alone (attributeCall): ${cols.map((col) => `${col} ${precisionOf((c) => withG(c, { minSpanScore: Infinity }), col)} / right ${precisionOf((c) => withG(c, { minSpanScore: Infinity }), col, true)}`).join(", ")}`);
  console.log(`| span share | ${cols.join(" | ")} |`);
  for (const spanShare of [0.1, 0.3, 0.5, 0.7, 0.9]) console.log(`| ${spanShare} | ${cols.map((col) => precisionOf((c) => withG(c, { spanShare }), col)).join(" | ")} |`);
}
