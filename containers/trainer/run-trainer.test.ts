import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DiskBlobStore } from "../../adapters/local/disk-blob-store.ts";
import { trainingConfigHash } from "../../core/jobs/fingerprint.ts";
import { systemClock } from "../../core/ports/clock.ts";
import { loadHfModel, parseAdapter, BASE_MODEL_DIR } from "../engine/index.ts";
import { readBlob } from "./blob-files.ts";
import { runTrainer, TRAINER_VERSION, type RunTrainerOptions, type TrainerAttributionFile } from "./run-trainer.ts";
import { plantedFacts } from "../../test/fakes/planted-facts.ts";
import { CONTRIBUTORS, domainRecords, frozenLines, putJob, recordingQueue } from "./test-fixtures.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const root = mkdtempSync(join(tmpdir(), "mf-trainer-"));
  dirs.push(root);
  const blobs = new DiskBlobStore({ root: join(root, "blobs"), apiOrigin: "http://localhost", secret: "s" });
  const queue = recordingQueue();
  // Short sequences keep each step in the tens of milliseconds.
  const options: RunTrainerOptions = { workDir: join(root, "work"), maxSeqLen: 48 };
  return { root, blobs, queue, deps: { blobs, queue, clock: systemClock }, options };
}
const json = async (blobs: DiskBlobStore, key: string) => JSON.parse((await readBlob(blobs, key))!.toString("utf8"));

describe("runTrainer", () => {
  it("trains, beats the base model on held-out records, and writes adapter, metrics and attribution", async () => {
    // Prepare
    const { blobs, queue, deps, options } = setup();
    const { spec, specKey } = await putJob(blobs);
    // Act
    const outcome = await runTrainer(deps, specKey, options);
    // Assess
    expect(outcome.status).toBe("succeeded");
    const events = queue.events();
    expect(events[0]).toMatchObject({ type: "started", jobId: "job_1", attempt: 1, resumedFromStep: null });
    expect(events.at(-2)!.type).toBe("evaluating");
    const done = events.at(-1)!;
    if (done.type !== "succeeded") throw new Error(`expected succeeded, got ${done.type}`);
    for (let i = 1; i < events.length; i++) expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq);
    expect(events.some((e) => e.type === "progress" && e.evalLoss !== undefined && e.step === 6)).toBe(true);
    expect(events.filter((e) => e.type === "progress").at(-1)).toMatchObject({ step: 12, totalSteps: 12 });

    const m = done.metrics;
    expect(m.evalLoss!).toBeLessThan(m.baseEvalLoss!);
    expect(m.evalPerplexity).toBeCloseTo(Math.exp(m.evalLoss!), 6);
    expect(m.baseEvalPerplexity).toBeCloseTo(Math.exp(m.baseEvalLoss!), 6);

    // PEFT files the engine (and PEFT) can load for this base model
    const base = loadHfModel(BASE_MODEL_DIR).model;
    const adapter = parseAdapter("a", (await readBlob(blobs, "jobs/job_1/adapter/adapter_config.json"))!.toString(), (await readBlob(blobs, "jobs/job_1/adapter/adapter_model.safetensors"))!, base.config);
    expect(adapter.config).toMatchObject({ r: 4, alpha: 8, targets: ["q_proj", "v_proj"] });
    expect(adapter.baseModel).toBe("mf-tiny-sotu");
    expect(adapter.layers[0]!.q_proj!.B.some((x) => x !== 0)).toBe(true);

    const metrics = await json(blobs, "jobs/job_1/metrics.json");
    expect(metrics.metrics).toEqual(m);
    expect(metrics.lossCurve.map((p: { step: number }) => p.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(metrics.lossCurve[5].evalLoss).toBeTypeOf("number");
    expect(metrics.lossCurve[11].evalLoss).toBe(m.evalLoss);
    expect(metrics.records).toMatchObject({ lines: 48, malformed: 0, duplicates: 0 });
    expect(metrics.records.train + metrics.records.heldOut).toBe(48);

    const attribution = (await json(blobs, "jobs/job_1/attribution.json")) as TrainerAttributionFile;
    expect(attribution.trainerVersion).toBe(TRAINER_VERSION);
    expect(attribution.trainingConfigHash).toBe(trainingConfigHash(spec, TRAINER_VERSION));
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    expect(Object.keys(attribution.tokensByContribution)).toHaveLength(metrics.records.train);
    expect(sum(attribution.tokensByContribution)).toBe(m.trainTokens);
    expect(sum(attribution.contributors)).toBe(m.trainTokens);
    expect(Object.keys(attribution.contributors).sort()).toEqual([...CONTRIBUTORS].sort());
    expect(attribution.datanets).toEqual([{ id: "dn_1", version: 1, root: spec.datanets[0]!.root, tokens: m.trainTokens }]);
    expect(await blobs.head("jobs/job_1/checkpoints/checkpoint.safetensors")).toBeDefined();
  });

  it("stopped after a checkpoint, resumes from it and ends with the weights of an uninterrupted run", async () => {
    // Prepare: one uninterrupted run, and one that is stopped once its first checkpoint is up
    const { blobs, queue, deps, options } = setup();
    const { specKey: fullKey } = await putJob(blobs, { jobId: "job_full" });
    const { specKey } = await putJob(blobs, { jobId: "job_cut" });
    await runTrainer(deps, fullKey, options);
    const stop = new AbortController();
    // Act
    const first = await runTrainer(deps, specKey, { ...options, signal: stop.signal, log: (msg) => msg === "checkpoint uploaded" && stop.abort() });
    const mark = queue.sent.length;
    const second = await runTrainer(deps, specKey, options);
    // Assess
    expect(first).toMatchObject({ status: "stopped", checkpointStep: expect.any(Number) });
    // stopped, it reports nothing more: the compute reports the exit (and Batch may rerun it)
    expect(queue.events().slice(0, mark).filter((e) => e.jobId === "job_cut").at(-1)!.type).not.toMatch(/failed|succeeded/);
    expect(second.status).toBe("succeeded");
    const resumed = queue.events().slice(mark)[0]!;
    expect(resumed.type === "started" && resumed.resumedFromStep).toBeGreaterThanOrEqual(4);
    expect(resumed.type === "started" && resumed.resumedFromStep).toBeLessThan(12);
    expect((await readBlob(blobs, "jobs/job_cut/adapter/adapter_model.safetensors"))!.equals((await readBlob(blobs, "jobs/job_full/adapter/adapter_model.safetensors"))!)).toBe(true);
    const curve = (await json(blobs, "jobs/job_cut/metrics.json")).lossCurve;
    expect(curve).toEqual((await json(blobs, "jobs/job_full/metrics.json")).lossCurve);
  });

  it("fails without retry when no record is usable, and says why", async () => {
    const { blobs, queue, deps, options } = setup();
    const lines = ["not json", JSON.stringify({ contributionId: "c1", contributor: CONTRIBUTORS[0], contentHash: `0x${"1".repeat(64)}`, tokens: 3, record: { instruction: "wrong schema", output: "x" } }), ...frozenLines(domainRecords(1))];
    const { specKey } = await putJob(blobs, { lines });
    const outcome = await runTrainer(deps, specKey, options);
    expect(outcome).toMatchObject({ status: "failed", retryable: false });
    const failed = queue.events().at(-1)!;
    expect(failed).toMatchObject({ type: "failed", retryable: false, reason: expect.stringMatching(/no usable records: 1 of 3 lines usable \(2 malformed\)/) });
  });

  it("fails without retry when a Datanet snapshot is missing or the base model is not the one named", async () => {
    const { blobs, queue, deps, options } = setup();
    const { spec, specKey } = await putJob(blobs);
    await blobs.delete(spec.datanets[0]!.recordsKey);
    expect(await runTrainer(deps, specKey, options)).toMatchObject({ status: "failed", retryable: false, reason: expect.stringContaining("no records at datanets/dn_1/versions/1/records.jsonl") });

    await blobs.put(specKey, JSON.stringify({ ...spec, jobId: "job_2", baseModel: { ...spec.baseModel, sha256: `0x${"0".repeat(64)}` } }));
    expect(await runTrainer(deps, specKey, options)).toMatchObject({ status: "failed", retryable: false, reason: expect.stringContaining("model.safetensors has sha256") });
    expect(queue.events().filter((e) => e.type === "failed").map((e) => e.jobId)).toEqual(["job_1", "job_2"]);
  });

  it("reports an invalid spec against the job it names, and refuses a missing one", async () => {
    const { blobs, queue, deps, options } = setup();
    await blobs.put("jobs/x/spec.json", JSON.stringify({ jobId: "job_x", attempt: 2, baseModel: "nope" }));
    expect(await runTrainer(deps, "jobs/x/spec.json", options)).toMatchObject({ status: "failed", retryable: false, reason: expect.stringContaining("invalid job spec") });
    expect(queue.events()).toEqual([expect.objectContaining({ type: "failed", jobId: "job_x", attempt: 2, retryable: false })]);
    expect(await runTrainer(deps, "jobs/none/spec.json", options)).toMatchObject({ status: "failed", reason: "no job spec at jobs/none/spec.json" });
  });

  it("trains once on a record found in two Datanet versions, crediting the first", async () => {
    const { blobs, deps, options } = setup();
    const { spec } = await putJob(blobs, { records: domainRecords(10) });
    await blobs.put("datanets/dn_2/versions/3/records.jsonl", frozenLines(domainRecords(12), "d").join("\n"));
    const two = { ...spec, datanets: [...spec.datanets, { ...spec.datanets[0]!, id: "dn_2", version: 3, recordsKey: "datanets/dn_2/versions/3/records.jsonl" }], training: { ...spec.training, maxSteps: 2, evalEvery: 0, checkpointEvery: 0 } };
    await blobs.put("jobs/job_1/spec.json", JSON.stringify(two));
    expect((await runTrainer(deps, "jobs/job_1/spec.json", options)).status).toBe("succeeded");
    const metrics = await json(blobs, "jobs/job_1/metrics.json");
    expect(metrics.records).toMatchObject({ lines: 22, duplicates: 10 });
    const attribution = (await json(blobs, "jobs/job_1/attribution.json")) as TrainerAttributionFile;
    expect(Object.keys(attribution.tokensByContribution).every((id) => id.startsWith("c") || id === "d10" || id === "d11")).toBe(true);
    expect(attribution.datanets.map((d) => d.id)).toEqual(["dn_1", "dn_2"]);
  });

  it("trains prompt-noise copies beside the records within the records' epochs, and indexes and credits only the records", async () => {
    // Prepare: the same instruction Datanet trained without and with one noisy copy per record.
    const { blobs, deps, options } = setup();
    const { records } = plantedFacts({ planters: 2, factsPerPlanter: 6, distractors: 1, recordsPerDistractor: 2, seed: 5 });
    const lines = frozenLines(records.map((r) => r.record));
    const runs: Record<string, { sequences: number; totalSteps: number }> = {};
    for (const [jobId, promptNoise] of [["job_plain", undefined], ["job_noisy", { copies: 1, rate: 0.8, mode: "mix" as const }], ["job_rate0", { copies: 2, rate: 0, mode: "mix" as const }]] as const) {
      const { specKey } = await putJob(blobs, { jobId, lines, schema: "instruction", training: { maxSteps: undefined, epochs: 2, evalEvery: 0, checkpointEvery: 0, promptNoise } });
      const log = (message: string, fields?: Record<string, unknown>) => {
        if (message === "training") runs[jobId] = fields as { sequences: number; totalSteps: number };
      };

      // Act
      expect((await runTrainer(deps, specKey, { ...options, log })).status).toBe("succeeded");
    }

    // Assess: about twice the rows (a noisy prompt is shorter, so rows pack a little differently), about the same
    // steps (one pass over them instead of two over the records), the same tokens credited and the same index.
    expect(runs.job_noisy!.sequences).toBeGreaterThan(1.5 * runs.job_plain!.sequences);
    expect(Math.abs(runs.job_noisy!.totalSteps - runs.job_plain!.totalSteps)).toBeLessThanOrEqual(0.1 * runs.job_plain!.totalSteps);
    expect(runs.job_rate0).toMatchObject({ sequences: runs.job_plain!.sequences, totalSteps: runs.job_plain!.totalSteps }); // rate 0 makes no copies, and keeps every pass
    const [plain, noisy] = await Promise.all(["job_plain", "job_noisy"].map((id) => json(blobs, `jobs/${id}/attribution.json`) as Promise<TrainerAttributionFile>));
    expect({ ...noisy!, trainingConfigHash: "" }).toEqual({ ...plain!, trainingConfigHash: "" });
    expect(noisy!.trainingConfigHash).not.toBe(plain!.trainingConfigHash);
    const index = (id: string) => readBlob(blobs, `jobs/${id}/adapter/attribution-index.safetensors`);
    expect((await index("job_noisy"))!.equals((await index("job_plain"))!)).toBe(true);
  });
});
