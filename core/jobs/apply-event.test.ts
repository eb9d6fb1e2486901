import { AbiCoder, keccak256, toUtf8Bytes } from "ethers";
import { describe, expect, it } from "vitest";
import { attributionFingerprint, datanetKey } from "../chain/fingerprint.ts";
import { alice, bob, carol, eventsIn } from "../../test/fakes/datanet-fixtures.ts";
import { jobTestDeps, type JobTestDeps, METRICS, publishedDatanet, SAMPLE_TEXTS, trainerEvents, writeTrainerOutput } from "../../test/fakes/job-fixtures.ts";
import { adapterFromItem } from "../adapters/adapters.ts";
import { adapterKey } from "../adapters/keys.ts";
import { applyJobEvent, PROGRESS_EVENT_INTERVAL_MS } from "./apply-event.ts";
import { getBaseModel } from "./base-models.ts";
import { MAX_ATTEMPTS } from "./end-attempt.ts";
import { trainingConfigHash } from "./fingerprint.ts";
import { createJob, getJob } from "./jobs.ts";
import { activeJobKey, adapterIdForJob } from "./keys.ts";
import { startJobAttempt } from "./start-job.ts";

/** A job of alice's on bob's Datanet, started (attempt 1, STARTING). */
async function startedJob(deps: JobTestDeps = jobTestDeps()) {
  const version = await publishedDatanet(deps, bob, SAMPLE_TEXTS, { contributors: [bob, carol] });
  const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
  await startJobAttempt(deps, job.id);
  return { deps, job, version };
}

const types = (deps: JobTestDeps, prefix: string) => eventsIn(deps.db).filter((e) => e.type.startsWith(prefix)).map((e) => e.type);
const jobsQueue = (deps: JobTestDeps) => deps.sent.filter((m) => m.queue === "jobs");

describe("startJobAttempt", () => {
  it("claims the queued job once: STARTING with the run's id; a duplicate message does nothing", async () => {
    const { deps, job } = await startedJob();
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "STARTING", attempts: 1 });
    expect(deps.compute.submitted).toEqual([{ jobId: job.id, attempt: 1, specKey: `jobs/${job.id}/spec-1.json`, externalId: "run-1" }]);
    expect(await startJobAttempt(deps, job.id)).toEqual({ started: false, reason: "not-queued" });
    expect(await startJobAttempt(deps, "job_missing")).toEqual({ started: false, reason: "no-such-job" });
    expect(deps.compute.submitted).toHaveLength(1);
  });

  it("counts a submit that fails as a failed attempt and queues a retry", async () => {
    const deps = jobTestDeps();
    const version = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
    const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
    deps.compute.failNextSubmit = new Error("no GPU capacity");
    expect(await startJobAttempt(deps, job.id)).toEqual({ started: false, reason: "submit-failed" });
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "QUEUED", attempts: 1, error: "could not start the trainer: no GPU capacity" });
    expect(jobsQueue(deps)).toHaveLength(2);
    expect(await startJobAttempt(deps, job.id)).toMatchObject({ started: true, attempt: 2 });
  });
});

describe("applyJobEvent", () => {
  it("runs a job through RUNNING and EVALUATING to SUCCEEDED with its adapter", async () => {
    // Prepare
    const { deps, job } = await startedJob();
    const ev = trainerEvents(job.id, 1);
    // Act
    expect(await applyJobEvent(deps, ev.started())).toBe("applied");
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "RUNNING", startedAt: expect.any(String) });
    await applyJobEvent(deps, ev.progress(10, 3.1));
    await applyJobEvent(deps, ev.progress(20, 2.8, { evalLoss: 2.9 }));
    expect(await getJob(deps, alice, job.id)).toMatchObject({
      progress: { step: 20, totalSteps: 100, loss: 2.8, tokensPerSecond: 1000, etaSeconds: 80 },
      lossCurve: [{ step: 10, loss: 3.1 }, { step: 20, loss: 2.8, evalLoss: 2.9 }],
    });
    await applyJobEvent(deps, ev.evaluating());
    expect((await getJob(deps, alice, job.id)).status).toBe("EVALUATING");
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, ev.succeeded());
    // Assess
    const done = await getJob(deps, alice, job.id);
    expect(done).toMatchObject({ status: "SUCCEEDED", adapterId: adapterIdForJob(job.id), metrics: METRICS, finishedAt: expect.any(String), error: null });
    expect(types(deps, "job.")).toEqual(["job.queued", "job.started", "job.progress", "job.succeeded"]);
    expect(types(deps, "adapter.")).toEqual(["adapter.created"]);
    expect(await deps.tables.main.get(activeJobKey(job.id))).toBeUndefined();
    // The compute's clean exit after success changes nothing.
    expect(await applyJobEvent(deps, ev.exited(0))).toBe("ignored");
  });

  it("ignores duplicates, stale seqs, other attempts and events after the end", async () => {
    const { deps, job } = await startedJob();
    const ev = trainerEvents(job.id, 1);
    const p1 = ev.progress(10, 3);
    const p2 = ev.progress(20, 2.5);
    expect(await applyJobEvent(deps, p2)).toBe("applied");
    // Out of order and duplicate: an older or equal seq is dropped.
    expect(await applyJobEvent(deps, p1)).toBe("ignored");
    expect(await applyJobEvent(deps, p2)).toBe("ignored");
    expect((await getJob(deps, alice, job.id)).progress!.step).toBe(20);
    // Events of an attempt that is not the current one.
    expect(await applyJobEvent(deps, trainerEvents(job.id, 0).failed("old attempt"))).toBe("ignored");
    expect(await applyJobEvent(deps, trainerEvents(job.id, 2).progress(50, 1))).toBe("ignored");
    // A progress before (the lost) started still marks the job running.
    expect((await getJob(deps, alice, job.id)).status).toBe("RUNNING");
    // Unknown jobs are ignored rather than retried forever.
    expect(await applyJobEvent(deps, trainerEvents("job_nope", 1).started())).toBe("ignored");
  });

  it("throttles job.progress to one per 10 s of event time, plus the first", async () => {
    const { deps, job } = await startedJob();
    const ev = trainerEvents(job.id, 1);
    const t0 = Date.UTC(2025, 0, 1);
    for (let i = 0; i < 30; i++) await applyJobEvent(deps, ev.progress(i + 1, 3 - i / 100, { at: t0 + i * 1000 }));
    expect(types(deps, "job.progress")).toHaveLength(3); // t = 0, 10 s, 20 s
    expect((await getJob(deps, alice, job.id)).lossCurve).toHaveLength(30);
    expect(PROGRESS_EVENT_INTERVAL_MS).toBe(10_000);
  });

  it("retries a failed attempt, which resumes, then succeeds", async () => {
    const { deps, job } = await startedJob();
    const a1 = trainerEvents(job.id, 1);
    await applyJobEvent(deps, a1.started());
    await applyJobEvent(deps, a1.progress(30, 2.5));
    // Killed mid-run (a Spot reclaim): the compute reports the exit.
    expect(await applyJobEvent(deps, a1.exited(null, "host terminated"))).toBe("applied");
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "QUEUED", attempts: 1, error: "the trainer was killed: host terminated" });
    expect(jobsQueue(deps).at(-1)).toMatchObject({ body: { jobId: job.id } });
    // The trainer's own report of that attempt, arriving late, changes nothing.
    expect(await applyJobEvent(deps, a1.failed("interrupted"))).toBe("ignored");

    expect(await startJobAttempt(deps, job.id)).toMatchObject({ started: true, attempt: 2 });
    const a2 = trainerEvents(job.id, 2);
    await applyJobEvent(deps, a2.started(20));
    await applyJobEvent(deps, a2.progress(21, 2.4));
    expect((await getJob(deps, alice, job.id)).lossCurve.map((p) => p.step)).toEqual([21]);
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, a2.succeeded());
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "SUCCEEDED", attempts: 2 });
    expect(types(deps, "job.started")).toHaveLength(2);
  });

  it("fails the job with the reason after the last attempt, and at once when not retryable", async () => {
    const { deps, job } = await startedJob();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (attempt > 1) await startJobAttempt(deps, job.id);
      const ev = trainerEvents(job.id, attempt);
      await applyJobEvent(deps, ev.started());
      await applyJobEvent(deps, ev.failed("CUDA out of memory"));
      await applyJobEvent(deps, ev.exited(1));
    }
    const failed = await getJob(deps, alice, job.id);
    expect(failed).toMatchObject({ status: "FAILED", attempts: 3, error: "CUDA out of memory (gave up after 3 attempts)", finishedAt: expect.any(String) });
    const failedEvents = eventsIn(deps.db).filter((e) => e.type === "job.failed");
    expect(failedEvents).toMatchObject([{ audience: [alice.address], data: { jobId: job.id, reason: failed.error, attempts: 3 } }]);
    expect(await startJobAttempt(deps, job.id)).toEqual({ started: false, reason: "not-queued" });

    const other = await startedJob();
    await applyJobEvent(other.deps, trainerEvents(other.job.id, 1).failed("records are not valid UTF-8", false));
    expect(await getJob(other.deps, alice, other.job.id)).toMatchObject({ status: "FAILED", attempts: 1, error: "records are not valid UTF-8" });
  });

  it("notes a clean exit that comes before the trainer's success, and still finalizes", async () => {
    const { deps, job } = await startedJob();
    const ev = trainerEvents(job.id, 1);
    const succeeded = ev.succeeded();
    expect(await applyJobEvent(deps, ev.exited(0))).toBe("applied");
    expect((await getJob(deps, alice, job.id)).status).toBe("STARTING");
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, succeeded);
    expect((await getJob(deps, alice, job.id)).status).toBe("SUCCEEDED");
  });

  it("ignores everything after a cancel", async () => {
    const { deps, job } = await startedJob();
    const { cancelJob } = await import("./jobs.ts");
    await cancelJob(deps, alice, job.id);
    const ev = trainerEvents(job.id, 1);
    await writeTrainerOutput(deps, job);
    expect(await applyJobEvent(deps, ev.started())).toBe("ignored");
    expect(await applyJobEvent(deps, ev.succeeded())).toBe("ignored");
    expect((await getJob(deps, alice, job.id)).status).toBe("CANCELLED");
    expect(await deps.tables.main.get(adapterKey(adapterIdForJob(job.id)))).toBeUndefined();
  });
});

describe("finalize", () => {
  it("records the adapter with weights adding up to 10 000 and the documented fingerprint", async () => {
    // Prepare: two Datanet versions, two contributors.
    const deps = jobTestDeps();
    const v1 = await publishedDatanet(deps, bob, SAMPLE_TEXTS, { contributors: [bob, carol] });
    const v2 = await publishedDatanet(deps, carol, SAMPLE_TEXTS.slice(0, 4).map((t) => `${t} Again and again.`));
    const job = await createJob(deps, alice, { datanets: [{ id: v2.datanetId, version: 1 }, { id: v1.datanetId, version: 1 }], lora: { rank: 4 } });
    await startJobAttempt(deps, job.id);
    const weights = Buffer.from("adapter weights bytes");
    const attribution = await writeTrainerOutput(deps, job, { weights, trainerVersion: "mf-trainer/9" });
    // Act
    await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
    // Assess
    const adapter = adapterFromItem((await deps.tables.main.get(adapterKey(adapterIdForJob(job.id))))!);
    expect(adapter).toMatchObject({ owner: alice.address, jobId: job.id, baseModel: "mf-tiny-sotu", pricePerCall: "0", trainerVersion: "mf-trainer/9", metrics: METRICS });
    expect(adapter.datanets.reduce((s, d) => s + d.weightBps, 0)).toBe(10_000);
    expect(adapter.contributors.reduce((s, c) => s + c.weightBps, 0)).toBe(10_000);
    expect(new Set(adapter.contributors.map((c) => c.address))).toEqual(new Set([bob.address, carol.address]));
    const totalTokens = attribution.datanets.reduce((s, d) => s + d.tokens, 0);
    for (const d of adapter.datanets) expect(Math.abs(d.weightBps - (d.tokens * 10_000) / totalTokens)).toBeLessThan(1);

    // Recompute the fingerprint from the files, as docs/attribution.md says.
    const weightsHash = `0x${(await import("node:crypto")).createHash("sha256").update(weights).digest("hex")}`;
    const configHash = trainingConfigHash({ baseModel: { id: "mf-tiny-sotu" }, lora: job.lora, training: job.training }, "mf-trainer/9");
    const expected = attributionFingerprint({
      baseModelHash: getBaseModel("mf-tiny-sotu")!.sha256,
      weightsHash,
      trainingConfigHash: configHash,
      sources: adapter.datanets.map((d) => ({ datanetId: datanetKey(d.id), version: d.version, root: d.root, weightBps: d.weightBps })),
    });
    expect(adapter).toMatchObject({ weightsHash, trainingConfigHash: configHash, fingerprint: expected });

    // And once more by hand, exactly as docs/attribution.md spells it out.
    const canonical = JSON.stringify(sortDeep({ baseModel: "mf-tiny-sotu", lora: job.lora, training: job.training, trainerVersion: "mf-trainer/9" }));
    expect(keccak256(toUtf8Bytes(canonical))).toBe(configHash);
    const sources = adapter.datanets
      .map((d) => ({ id: keccak256(toUtf8Bytes(d.id)), root: d.root, version: d.version, bps: d.weightBps }))
      .sort((a, b) => (BigInt(a.id) === BigInt(b.id) ? a.version - b.version : BigInt(a.id) < BigInt(b.id) ? -1 : 1))
      .map((x) => [x.id, x.root, x.version, x.bps]);
    const byHand = keccak256(
      AbiCoder.defaultAbiCoder().encode(
        ["bytes32", "bytes32", "bytes32", "tuple(bytes32 datanetId,bytes32 root,uint32 version,uint16 weightBps)[]"],
        ["0xc96b4cba89fb3fa33ecffed3514bf1b9a69d671e25bb847fcf8ac9d5ead46f67", weightsHash, configHash, sources],
      ),
    );
    expect(adapter.fingerprint).toBe(byHand);
  });

  it("a duplicate succeeded creates one adapter and one adapter.created event", async () => {
    const { deps, job } = await startedJob();
    await writeTrainerOutput(deps, job);
    const succeeded = trainerEvents(job.id, 1).succeeded();
    await Promise.all([applyJobEvent(deps, succeeded), applyJobEvent(deps, succeeded)]);
    expect(await applyJobEvent(deps, succeeded)).toBe("ignored");
    expect(types(deps, "adapter.created")).toHaveLength(1);
    expect(types(deps, "job.succeeded")).toHaveLength(1);
    expect((await deps.tables.main.query({ pk: "ADAPTERS", index: "gsi1" })).items).toHaveLength(1);
  });

  it("fails the attempt when the output does not check out", async () => {
    const { deps, job } = await startedJob();
    await writeTrainerOutput(deps, job);
    // attribution.json claims another training config.
    const key = `jobs/${job.id}/output/attribution.json`;
    const attribution = JSON.parse(deps.blobs.blobs.get(key)!.bytes.toString("utf8")) as { trainingConfigHash: string };
    await deps.blobs.put(key, JSON.stringify({ ...attribution, trainingConfigHash: `0x${"ab".repeat(32)}` }));
    await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "QUEUED", error: expect.stringContaining("trainingConfigHash does not match") });

    await startJobAttempt(deps, job.id);
    await deps.blobs.delete(`jobs/${job.id}/output/adapter/adapter_model.safetensors`);
    await applyJobEvent(deps, trainerEvents(job.id, 2).succeeded());
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "QUEUED", error: expect.stringContaining("adapter_model.safetensors") });
  });
});

/** Object keys sorted at every depth (the canonical JSON of docs/attribution.md). */
function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortDeep((value as Record<string, unknown>)[k])]));
  return value;
}
