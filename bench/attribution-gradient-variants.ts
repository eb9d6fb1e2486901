// Gradient attribution variants on a saved adapter (issue 11): which parameters' gradients
// (all, per-tensor/layer/target unit-normalised, lora_B or lora_A only, MLP or attention only),
// scored by plain cosine, cosine about the records' mean, or cosine after whitening by the
// records' (unit) sketches' second moment + λ·I, at several thresholds; each method's top
// contributor (the sum of the 32 best records' scores) against the planter, on every call and
// on the calls answered right. The data is bench/attribution.ts's (same env switches:
// PLANTERS, FACTS, DISTRACTORS, DISTRACTOR_RECORDS, AUGMENT_FRACTION, AUGMENT_WORDINGS), the
// adapter one that bench saved with ADAPTER_OUT; the defaults here are the 64-record
// single-wording set (4 × 12 + 4 × 4). VARIANTS=full,perTarget picks rows.
// Usage: ADAPTER_IN=dir npx node bench/attribution-gradient-variants.ts
import { projectGradient } from "../core/attribution/index.ts";
import { BASE_MODEL_DIR, backward, createGrads, forwardTrain, generate, loadAdapter, loadHfModel, packDocuments, paramList } from "../containers/engine/index.ts";
import { callSequence } from "../containers/trainer/gradient-sketch.ts";
import { formatRecordPieces, instructionPrompt, tokenizePieces } from "../containers/trainer/records.ts";
import { plantedFactsAugmented } from "./attribution-wordings.ts";
const env = (n: string, d: number) => (process.env[n] ? Number(process.env[n]) : d);
const SIZE = { planters: env("PLANTERS", 4), factsPerPlanter: env("FACTS", 12), distractors: env("DISTRACTORS", 4), recordsPerDistractor: env("DISTRACTOR_RECORDS", 4) };
const { records, facts } = plantedFactsAugmented({ ...SIZE, seed: 1 }, { fraction: env("AUGMENT_FRACTION", 0), wordings: env("AUGMENT_WORDINGS", 4), pool: process.env.AUGMENT_POOL ? Number(process.env.AUGMENT_POOL) : undefined });
const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
if (!process.env.ADAPTER_IN) throw new Error("ADAPTER_IN=dir: an adapter saved by bench:attribution with ADAPTER_OUT");
const adapter = loadAdapter(process.env.ADAPTER_IN, model.config, "planted");
const special = { bos: tokenizer.bos, eos: tokenizer.eos };
const K = 256, SEED = 20_261_201;
type Parts = Float32Array[];
function gradParts(tokens: ArrayLike<number>, targets: ArrayLike<number>, starts: ArrayLike<number> | null, g = createGrads(model, adapter, false)): Parts {
  const { tape, count } = forwardTrain(model, adapter, tokens, targets, null, Float32Array, starts);
  if (count > 0) backward(model, adapter, tape, targets, g);
  return paramList(model, adapter, g).map((p) => Float32Array.from(p.grad as Float32Array));
}
const names = paramList(model, adapter, createGrads(model, adapter, false)).map((p) => p.name);
const norm = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!; return Math.sqrt(s); };
const scaleParts = (parts: Parts, groupOf: (i: number) => string) => {
  const ss = new Map<string, number>();
  parts.forEach((p, i) => ss.set(groupOf(i), (ss.get(groupOf(i)) ?? 0) + norm(p) ** 2));
  return parts.map((p, i) => { const n = Math.sqrt(ss.get(groupOf(i))!); return n > 0 ? p.map((x) => x / n) : p; });
};
const VARIANTS: Record<string, (p: Parts) => Parts> = {
  full: (p) => p,
  perTensor: (p) => scaleParts(p, (i) => String(i)),
  perLayer: (p) => scaleParts(p, (i) => names[i]!.split(".")[0]!),
  perTarget: (p) => scaleParts(p, (i) => names[i]!.split(".").slice(0, 2).join(".")),
  onlyB: (p) => p.map((x, i) => (names[i]!.endsWith(".B") ? x : new Float32Array(x.length))),
  onlyA: (p) => p.map((x, i) => (names[i]!.endsWith(".A") ? x : new Float32Array(x.length))),
  mlp: (p) => p.map((x, i) => (/gate|up|down/.test(names[i]!) ? x : new Float32Array(x.length))),
  attn: (p) => p.map((x, i) => (/gate|up|down/.test(names[i]!) ? new Float32Array(x.length) : x)),
};
const sk = (p: Parts) => Object.fromEntries(Object.entries(VARIANTS).map(([n, f]) => [n, projectGradient(f(p), K, SEED)]));
const tok = records.map((r) => tokenizePieces((t) => tokenizer.encode(t), formatRecordPieces("instruction", r.record)!, "completion"));
const recSk = tok.map((t) => { const g = createGrads(model, adapter, false); let parts: Parts = []; for (const row of packDocuments([t], model.config.maxSeqLen, special)) parts = gradParts(row.tokens, row.targets, row.starts ?? null, g); return sk(parts); });
const W = ["trained", "tuning", "heldOut"] as const;
interface C { planter: string; w: string; right: boolean; aug: boolean; s: Record<string, Float32Array> }
const calls: C[] = [];
for (const f of facts) for (const w of W) {
  if (w === "tuning" && f.augmented) continue;
  const q = w === "trained" ? f.question : w === "tuning" ? f.tuning : f.heldOut;
  const prompt = instructionPrompt(q);
  const g = generate(model, tokenizer, prompt, { maxTokens: 40, temperature: 0 }, adapter);
  const ids = tokenizer.encode(prompt); const pIds = [tokenizer.bos!, ...ids];
  const { tokens, targets } = callSequence(pIds, g.tokens, model.config.maxSeqLen);
  calls.push({ planter: f.planter, w: w === "heldOut" && f.augmented ? "heldOutAug" : w, right: g.text.trim() === f.answer, aug: f.augmented, s: sk(gradParts(tokens, targets, null)) });
}
const dot = (a: Float32Array, b: Float32Array) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };
// Scorers: plain cosine; centred (records' mean sketch removed from both); whitened with the records' second moment + λI.
function cholInv(F: Float64Array, n: number): Float64Array { // returns L^{-1} (lower), F = L L^T
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { let s = F[i * n + j]!; for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!; L[i * n + j] = i === j ? Math.sqrt(s) : s / L[j * n + j]!; }
  const Li = new Float64Array(n * n);
  for (let c = 0; c < n; c++) for (let i = c; i < n; i++) { let s = i === c ? 1 : 0; for (let k = c; k < i; k++) s -= L[i * n + k]! * Li[k * n + c]!; Li[i * n + c] = s / L[i * n + i]!; }
  return Li;
}
const apply = (M: Float64Array, v: Float32Array) => { const o = new Float32Array(K); for (let i = 0; i < K; i++) { let s = 0; for (let j = 0; j <= i; j++) s += M[i * K + j]! * v[j]!; o[i] = s; } return o; };
function scorers(variant: string): Record<string, (q: Float32Array) => number[]> {
  const R = recSk.map((r) => r[variant]!);
  const mean = new Float32Array(K); for (const r of R) for (let i = 0; i < K; i++) mean[i]! += r[i]! / R.length;
  const cos = (a: Float32Array, b: Float32Array) => dot(a, b) / (norm(a) * norm(b) || 1);
  const sub = (a: Float32Array) => a.map((x, i) => x - mean[i]!);
  const Rc = R.map(sub);
  const out: Record<string, (q: Float32Array) => number[]> = { cos: (q) => R.map((r) => cos(q, r)), centred: (q) => { const qc = sub(q); return Rc.map((r) => cos(qc, r)); } };
  const unit = R.map((r) => r.map((x) => x / (norm(r) || 1)));
  const F = new Float64Array(K * K); for (const r of unit) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) F[i * K + j]! += (r[i]! * r[j]!) / unit.length;
  for (const lam of [0.01, 0.1, 1]) {
    const Fl = Float64Array.from(F); const tr = 1 / K; for (let i = 0; i < K; i++) Fl[i * K + i]! += lam * tr;
    const Li = cholInv(Fl, K); const Rw = unit.map((r) => apply(Li, r));
    out[`whiten${lam}`] = (q) => { const qw = apply(Li, q.map((x) => x / (norm(q) || 1))); return Rw.map((r) => cos(qw, r)); };
  }
  return out;
}
const top = (scores: number[], minCos: number) => { const idx = scores.map((s, i) => [i, s] as const).filter(([, s]) => s >= minCos).sort((a, b) => b[1] - a[1]).slice(0, 32); const by = new Map<string, number>(); for (const [i, s] of idx) by.set(records[i]!.contributor, (by.get(records[i]!.contributor) ?? 0) + s); return [...by].sort((a, b) => b[1] - a[1])[0]?.[0] ?? ""; };
const cols = ["trained", "tuning", "heldOut", "heldOutAug"];
console.log(`| variant | scorer | ${cols.map((c) => `${c} all / right`).join(" | ")} |`);
for (const v of (process.env.VARIANTS ?? Object.keys(VARIANTS).join(",")).split(",")) {
  const sc = scorers(v);
  for (const [sn, f] of Object.entries(sc)) for (const minCos of sn === "cos" ? [0.2] : [0, 0.1, 0.2]) {
    const cell = (col: string) => { const sel = calls.filter((c) => c.w === col); if (!sel.length) return "–"; const hit = sel.map((c) => top(f(c.s[v]!), minCos) === c.planter); const r = sel.map((c, i) => [c.right, hit[i]] as const).filter(([ok]) => ok); return `${(hit.filter(Boolean).length / sel.length).toFixed(3)} / ${r.length ? (r.filter(([, h]) => h).length / r.length).toFixed(3) : "–"} (n=${sel.length}/${r.length})`; };
    console.log(`| ${v} | ${sn} ≥ ${minCos} | ${cols.map(cell).join(" | ")} |`);
  }
}
