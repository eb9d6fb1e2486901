// The committed base model: it loads, speaks better than chance, and a short LoRA run visibly
// changes what it writes.
import { describe, expect, it } from "vitest";
import { BASE_MODEL_DIR } from "./index.ts";
import { loadHfModel } from "./checkpoint.ts";
import { createLora } from "./lora.ts";
import { packRecords } from "./packing.ts";
import { evaluate, train } from "./train.ts";
import { generate } from "./generate.ts";

describe("committed base model", () => {
  const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);

  it("loads with its BPE tokenizer and predicts English far better than chance", () => {
    expect(model.config).toMatchObject({ vocabSize: 512, nHeads: 4, nKvHeads: 2, tieEmbeddings: true });
    const text = "My fellow Americans, the state of our Union is strong. We will work together with the Congress to build a better future for our children.";
    const ids = tokenizer.encode(text);
    expect(tokenizer.decode(ids)).toBe(text);
    const loss = evaluate(model, null, packRecords([ids], 64, tokenizer.eos));
    expect(loss).toBeLessThan(0.65 * Math.log(512));
  });

  it("a short LoRA fine-tune visibly changes its continuation", () => {
    const phrase = "The llama engine serves adapters.";
    const before = generate(model, tokenizer, "The", { maxTokens: 8 }).text;
    const adapter = createLora(model.config, { r: 8, alpha: 16, dropout: 0, targets: ["q_proj", "v_proj", "o_proj", "down_proj"] }, { seed: 1 });
    const seqs = packRecords(Array.from({ length: 8 }, () => tokenizer.encode(phrase)), 24, tokenizer.eos);
    train(model, adapter, { train: seqs, eval: [] }, { steps: 25, batchSize: 2, lr: 1e-2, warmupSteps: 2, evalEvery: 0 });
    const after = generate(model, tokenizer, "The", { maxTokens: 16 }, adapter).text;
    expect(after).not.toBe(before);
    expect(after).toMatch(/llama engine serv/);
  });
});
