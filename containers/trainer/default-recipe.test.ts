// A fine-tune with the API's default settings learns its Datanet (issue 11, "fine-tunes that
// learn"): a small planted-facts Datanet (made-up words no base model knows), the settings a
// job gets when it names nothing but its data (core/jobs/recipe.ts), the real trainer, and
// then the adapter is asked every fact it trained on.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DiskBlobStore } from "../../adapters/local/disk-blob-store.ts";
import { countTokens } from "../../core/ingest/token-count.ts";
import { getBaseModel, tokenizerCost } from "../../core/jobs/base-models.ts";
import { CreateJobInput, type JobSpec } from "../../core/jobs/model.ts";
import { documentRows, estimatedModelTokens, withScaledDefaults } from "../../core/jobs/recipe.ts";
import { systemClock } from "../../core/ports/clock.ts";
import { CAPITALS } from "../../local/demo/capitals.ts";
import { plantedFacts } from "../../test/fakes/planted-facts.ts";
import { BASE_MODEL_DIR, generate, loadHfModel, packDocuments, parseAdapter } from "../engine/index.ts";
import { readBlob } from "./blob-files.ts";
import { formatRecordPieces, instructionPrompt, tokenizePieces } from "./records.ts";
import { runTrainer } from "./run-trainer.ts";
import { putBaseModel, recordingQueue } from "./test-fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "mf-default-recipe-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the recipe's step estimate", () => {
  it("counts the rows the trainer packs from the ingest's counts, within 15%", () => {
    // The demo's 40 capitals and a planted-facts set: what createJob knows (records, pre-tokens)
    // against the committed model's tokens packed as the trainer packs them.
    const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
    const base = getBaseModel("mf-tiny-sotu")!;
    const sets = [
      CAPITALS.map(([country, capital]) => ({ instruction: `What is the capital of ${country}?`, output: `The capital of ${country} is ${capital}.` })),
      plantedFacts({ planters: 8, factsPerPlanter: 20, distractors: 4, recordsPerDistractor: 10, seed: 1 }).records.map((r) => r.record as { instruction: string; output: string }),
    ];
    for (const records of sets) {
      const tokenized = records.map((r) => tokenizePieces((t) => tokenizer.encode(t), formatRecordPieces("instruction", r)!, "completion"));
      const rows = packDocuments(tokenized, Math.min(base.contextLength, model.config.maxSeqLen), { bos: tokenizer.bos, eos: tokenizer.eos }).length;
      const data = { records: records.length, tokens: records.reduce((s, r) => s + countTokens(`${r.instruction} ${r.output}`), 0) };
      const estimate = documentRows(estimatedModelTokens(data, tokenizerCost(base.id)), data.records, base.contextLength);
      expect(Math.abs(estimate - rows) / rows, `${records.length} records: estimated ${estimate} rows, packed ${rows}`).toBeLessThanOrEqual(0.15);
    }
  });
});

describe("a fine-tune with default settings", () => {
  it("recalls the facts of a small planted-facts Datanet exactly", { timeout: 240_000 }, async () => {
    // Prepare: 3 contributors × 4 facts + 1 distractor × 2 records, short made-up words.
    const { records, facts } = plantedFacts({ planters: 3, factsPerPlanter: 4, distractors: 1, recordsPerDistractor: 2, seed: 3, syllables: [2, 2] });
    const blobs = new DiskBlobStore({ root: join(root, "blobs"), apiOrigin: "http://localhost", secret: "s" });
    const queue = recordingQueue();
    const lines = records.map((r, i) => JSON.stringify({ contributionId: r.contributionId, contributor: r.contributor, contentHash: `0x${(i + 1).toString(16).padStart(64, "0")}`, tokens: countTokens(`${r.record.instruction} ${r.record.output}`), record: r.record }));
    const recordsKey = "datanets/dn_1/versions/1/records.jsonl";
    await blobs.put(recordsKey, lines.join("\n") + "\n");
    // Exactly what createJob does with a body of `{ datanets }` alone.
    const body = { datanets: [{ id: "dn_1", version: 1 }] };
    const input = CreateJobInput.parse(body);
    const data = { records: records.length, tokens: records.reduce((s, r) => s + countTokens(`${r.record.instruction} ${r.record.output}`), 0) };
    const spec: JobSpec = {
      jobId: "job_defaults", attempt: 1, baseModel: await putBaseModel(blobs),
      datanets: [{ id: "dn_1", version: 1, root: `0x${"ab".repeat(32)}`, recordsKey, schema: "instruction" }],
      lora: input.lora, training: withScaledDefaults(body, input.training, data, getBaseModel(input.baseModel)!),
      outputPrefix: "jobs/job_defaults/",
    };
    await blobs.put("jobs/job_defaults/spec.json", JSON.stringify(spec));

    // Act
    const t0 = performance.now();
    const outcome = await runTrainer({ blobs, queue, clock: systemClock }, "jobs/job_defaults/spec.json", { workDir: join(root, "work") });
    const seconds = (performance.now() - t0) / 1000;

    // Assess: every trained fact (held-out records were never seen) answered word for word.
    expect(outcome.status).toBe("succeeded");
    const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
    const adapter = parseAdapter("a", (await readBlob(blobs, "jobs/job_defaults/adapter/adapter_config.json"))!.toString(), (await readBlob(blobs, "jobs/job_defaults/adapter/adapter_model.safetensors"))!, model.config);
    const trained = new Set(Object.keys(JSON.parse((await readBlob(blobs, "jobs/job_defaults/attribution.json"))!.toString()).tokensByContribution));
    const asked = facts.filter((f) => trained.has(f.contributionId));
    const answers = asked.map((f) => generate(model, tokenizer, instructionPrompt(f.question), { maxTokens: 40, temperature: 0 }, adapter).text.trim());
    const right = asked.filter((f, i) => answers[i] === f.answer);
    for (const [i, f] of asked.entries()) if (answers[i] !== f.answer) console.log(`missed: ${f.question} → "${answers[i]}" (trained: "${f.answer}")`);
    const steps = queue.events().filter((e) => e.type === "progress").at(-1);
    console.log(`default fine-tune: ${asked.length} trained facts, ${right.length} recalled exactly; ${spec.training.epochs} epochs, batch ${spec.training.batchSize}, ${steps?.type === "progress" ? steps.totalSteps : "?"} steps, ${seconds.toFixed(1)} s`);
    expect(asked.length).toBeGreaterThanOrEqual(10);
    expect(right.length / asked.length).toBeGreaterThanOrEqual(0.9);
  });
});
