import { describe, expect, it } from "vitest";
import { alice, bob, carol, eventsIn } from "../../test/fakes/datanet-fixtures.ts";
import { jobTestDeps, publishedDatanet, SAMPLE_TEXTS } from "../../test/fakes/job-fixtures.ts";
import { versionKey } from "../datanets/keys.ts";
import { DomainError, NotFoundError, ValidationError } from "../errors.ts";
import { QueueNames } from "../ports/queue.ts";
import { cancelJob, createJob, getJob, listJobs } from "./jobs.ts";
import { activeJobKey, jobSpecBlobKey } from "./keys.ts";
import { JobSpec } from "./model.ts";
import { scaledTrainingDefaults } from "./recipe.ts";
import { startJobAttempt } from "./start-job.ts";

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; status: number }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return { code: error.code, status: error.status };
    throw error;
  }
  throw new Error("expected a DomainError");
}

describe("createJob", () => {
  it("takes datanets alone, fills the defaults, writes the spec and queues the job", async () => {
    // Prepare
    const deps = jobTestDeps();
    const version = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
    // Act
    const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
    // Assess
    expect(job).toMatchObject({
      owner: alice.address,
      status: "QUEUED",
      baseModel: "mf-tiny-sotu",
      datanets: [{ id: version.datanetId, version: 1, root: version.root }],
      lora: { rank: 16, alpha: 32, dropout: 0, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] },
      training: { ...scaledTrainingDefaults({ records: SAMPLE_TEXTS.length, tokens: version.tokens }, 0.1, 128), learningRate: 5e-3 },
      attempts: 0,
      lossCurve: [],
    });
    const spec = JobSpec.parse(JSON.parse(deps.blobs.blobs.get(jobSpecBlobKey(job.id, 1))!.bytes.toString("utf8")));
    expect(spec).toMatchObject({
      jobId: job.id,
      attempt: 1,
      baseModel: { id: "mf-tiny-sotu", prefix: "base-models/mf-tiny-sotu/" },
      datanets: [{ id: version.datanetId, version: 1, root: version.root, recordsKey: `datanets/${version.datanetId}/versions/1/records.jsonl`, schema: "text" }],
      outputPrefix: `jobs/${job.id}/output/`,
    });
    expect(deps.sent.filter((m) => m.queue === QueueNames.jobs)).toEqual([{ queue: "jobs", body: { jobId: job.id } }]);
    expect(eventsIn(deps.db).filter((e) => e.type === "job.queued")).toMatchObject([{ audience: [alice.address], data: { jobId: job.id } }]);
    expect(await deps.tables.main.get(activeJobKey(job.id))).toBeDefined();
  });

  it("refuses unknown and unpublished versions, another account's private Datanet and unknown models", async () => {
    const deps = jobTestDeps();
    const pub = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
    const priv = await publishedDatanet(deps, bob, SAMPLE_TEXTS, { visibility: "private" });
    expect(await codeOf(createJob(deps, alice, { datanets: [{ id: pub.datanetId, version: 2 }] }))).toEqual({ code: "datanet-version-not-found", status: 404 });
    expect(await codeOf(createJob(deps, alice, { datanets: [{ id: "dn_nope", version: 1 }] }))).toEqual({ code: "not-found", status: 404 });
    // A private Datanet of another account answers exactly like a missing one; its owner may use it.
    expect(await codeOf(createJob(deps, alice, { datanets: [{ id: priv.datanetId, version: 1 }] }))).toEqual({ code: "not-found", status: 404 });
    await expect(createJob(deps, bob, { datanets: [{ id: priv.datanetId, version: 1 }] })).resolves.toMatchObject({ status: "QUEUED" });
    // A version still being published (its number reserved, nothing frozen yet).
    await deps.tables.main.put({ ...versionKey(pub.datanetId, 2), datanetId: pub.datanetId, version: 2, state: "publishing", publishId: "pub_x", reservedUntil: 0 });
    expect(await codeOf(createJob(deps, alice, { datanets: [{ id: pub.datanetId, version: 2 }] }))).toEqual({ code: "datanet-version-not-published", status: 409 });
    expect(await codeOf(createJob(deps, alice, { datanets: [{ id: pub.datanetId, version: 1 }], baseModel: "gpt-5" }))).toEqual({ code: "unknown-base-model", status: 400 });
    expect(deps.sent.filter((m) => m.queue === QueueNames.jobs)).toHaveLength(1);
  });

  it("refuses invalid hyper-parameters with each issue named", async () => {
    const deps = jobTestDeps();
    const v = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
    const datanets = [{ id: v.datanetId, version: 1 }];
    const issues = async (input: unknown) => {
      const error = await createJob(deps, alice, input).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      return ((error as ValidationError).details as { path: unknown[] }[]).map((i) => i.path.join("."));
    };
    expect(await issues({ datanets, lora: { rank: 0 }, training: { learningRate: -1 } })).toEqual(["lora.rank", "training.learningRate"]);
    expect(await issues({ datanets, lora: { rank: 128 } })).toEqual(["lora.rank"]); // above the hidden size (96)
    expect(await issues({ datanets, lora: { targetModules: ["q_proj", "q_proj"] } })).toEqual(["lora.targetModules"]);
    expect(await issues({ datanets: [...datanets, ...datanets] })).toEqual(["datanets.1"]);
    expect(await issues({ datanets, training: { maxSteps: 5, warmupSteps: 10 } })).toEqual(["training.warmupSteps"]);
    expect(await issues({ datanets, training: { epochs: 1, bogus: 1 } })).toEqual(["training"]);
    expect(await issues({ datanets: [] })).toEqual(["datanets"]);
  });

  it("refuses versions with fewer than two records", async () => {
    const deps = jobTestDeps();
    const v = await publishedDatanet(deps, bob, ["Only one record here."]);
    expect(await codeOf(createJob(deps, alice, { datanets: [{ id: v.datanetId, version: 1 }] }))).toEqual({ code: "not-enough-records", status: 409 });
  });
});

describe("listJobs, getJob, cancelJob", () => {
  it("lists the caller's own jobs newest first, filters by status, and hides others' jobs", async () => {
    const deps = jobTestDeps();
    const v = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
    const datanets = [{ id: v.datanetId, version: 1 }];
    const first = await createJob(deps, alice, { datanets });
    deps.clock.advance(1000);
    const second = await createJob(deps, alice, { datanets });
    await createJob(deps, carol, { datanets });
    await startJobAttempt(deps, first.id);

    const page1 = await listJobs(deps, alice, { limit: 1 });
    expect(page1.items.map((j) => j.id)).toEqual([second.id]);
    const page2 = await listJobs(deps, alice, { limit: 1, cursor: page1.nextCursor! });
    expect(page2.items.map((j) => j.id)).toEqual([first.id]);
    expect((await listJobs(deps, alice, { status: "STARTING" })).items.map((j) => j.id)).toEqual([first.id]);
    expect((await listJobs(deps, alice, { status: "QUEUED" })).items.map((j) => j.id)).toEqual([second.id]);
    // Not listed for others, but a job on public data is readable by them.
    expect((await listJobs(deps, carol)).items.map((j) => j.owner)).toEqual([carol.address]);
    await expect(getJob(deps, carol, first.id)).resolves.toMatchObject({ id: first.id, visibility: "public" });
    const secret = await publishedDatanet(deps, alice, SAMPLE_TEXTS, { visibility: "private" });
    const hidden = await createJob(deps, alice, { datanets: [{ id: secret.datanetId, version: 1 }] });
    expect(hidden.visibility).toBe("private");
    await expect(getJob(deps, carol, hidden.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(getJob(deps, alice, first.id)).resolves.toMatchObject({ id: first.id, status: "STARTING", attempts: 1 });
  });

  it("cancels: stops the run, writes job.cancelled; an ended job is a 409; others' jobs are 404", async () => {
    const deps = jobTestDeps();
    const v = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
    const job = await createJob(deps, alice, { datanets: [{ id: v.datanetId, version: 1 }] });
    await startJobAttempt(deps, job.id);
    expect(await codeOf(cancelJob(deps, bob, job.id))).toEqual({ code: "not-found", status: 404 });
    const cancelled = await cancelJob(deps, alice, job.id);
    expect(cancelled).toMatchObject({ status: "CANCELLED", finishedAt: expect.any(String) });
    expect(deps.compute.cancelled).toEqual(["run-1"]);
    expect(eventsIn(deps.db).filter((e) => e.type === "job.cancelled")).toHaveLength(1);
    expect(await deps.tables.main.get(activeJobKey(job.id))).toBeUndefined();
    expect(await codeOf(cancelJob(deps, alice, job.id))).toEqual({ code: "job-finished", status: 409 });
    // The queued start message arriving late does nothing.
    expect(await startJobAttempt(deps, job.id)).toEqual({ started: false, reason: "not-queued" });
  });
});
