import { describe, expect, it } from "vitest";
import { alice, bob, jsonl, newDatanet, putUpload, sha256Hex, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { jobTestDeps, publishedDatanet, SAMPLE_TEXTS, trainerEvents, writeTrainerOutput } from "../../test/fakes/job-fixtures.ts";
import { createUpload } from "../datanets/uploads.ts";
import { DomainError } from "../errors.ts";
import { createJob } from "../jobs/jobs.ts";
import { ACCOUNT_BUSY_RETRY_SECONDS, startJobAttempt } from "../jobs/start-job.ts";
import { applyJobEvent } from "../jobs/apply-event.ts";
import { ingestObject } from "../ingest/index.ts";
import { jobSequences } from "./jobs.ts";

async function refusal(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  const { code, status, extensions } = error as DomainError;
  return { code, status, ...extensions } as { code: string; status: number; [extension: string]: unknown };
}

async function setup(quotas: Partial<ReturnType<typeof jobTestDeps>["config"]["quotas"]> = {}) {
  const deps = jobTestDeps();
  deps.config.quotas = { ...deps.config.quotas, ...quotas };
  const version = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
  return { deps, datanets: [{ id: version.datanetId, version: 1 }] };
}

describe("training quotas", () => {
  it("refuses a job asking for more sequences than one job may: 403 quota-exceeded naming the quota", async () => {
    const { deps, datanets } = await setup({ sequencesPerJob: 1000 });
    expect(await refusal(createJob(deps, alice, { datanets, training: { maxSteps: 100_000, batchSize: 8 } }))).toEqual({
      code: "quota-exceeded",
      status: 403,
      quota: "sequencesPerJob",
      limit: 1000,
      used: 0,
      requested: 800_000,
      unit: "training sequences",
    });
    await expect(createJob(deps, alice, { datanets, training: { maxSteps: 100, batchSize: 8 } })).resolves.toMatchObject({ status: "QUEUED" });
  });

  it("counts steps × batch × accumulation, or one row per record and epoch", () => {
    expect(jobSequences({ maxSteps: 10, epochs: 3, batchSize: 8, gradientAccumulation: 2 }, 999)).toBe(160);
    expect(jobSequences({ epochs: 2.5, batchSize: 8, gradientAccumulation: 1 }, 7)).toBe(18);
  });

  it("limits queued jobs per account, and concurrent creations cannot both take the last place", async () => {
    const { deps, datanets } = await setup({ queuedJobs: 2 });
    await createJob(deps, alice, { datanets });
    const racing = await Promise.allSettled([createJob(deps, alice, { datanets }), createJob(deps, alice, { datanets })]);
    expect(racing.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const rejected = racing.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: "quota-exceeded", extensions: { quota: "queuedJobs", limit: 2, used: 2 } });
    // Another account is not affected.
    await expect(createJob(deps, bob, { datanets })).resolves.toMatchObject({ status: "QUEUED" });
  });

  it("limits training sequences per account and UTC day; the next day starts afresh", async () => {
    const { deps, datanets } = await setup({ sequencesPerDay: 1000, queuedJobs: 100 });
    await createJob(deps, alice, { datanets, training: { maxSteps: 60, batchSize: 8 } }); // 480
    await createJob(deps, alice, { datanets, training: { maxSteps: 60, batchSize: 8 } }); // 960
    expect(await refusal(createJob(deps, alice, { datanets, training: { maxSteps: 20, batchSize: 8 } }))).toMatchObject({
      quota: "sequencesPerDay",
      used: 960,
      requested: 160,
    });
    deps.clock.advance(24 * 3600_000);
    await expect(createJob(deps, alice, { datanets, training: { maxSteps: 20, batchSize: 8 } })).resolves.toBeDefined();
  });

  it("one account cannot hold every trainer slot: its second job waits while another account's job starts", async () => {
    const { deps, datanets } = await setup({ runningJobs: 1, queuedJobs: 10 });
    const long = await createJob(deps, alice, { datanets, training: { maxSteps: 5000, batchSize: 8 } });
    const next = await createJob(deps, alice, { datanets });
    const bobs = await createJob(deps, bob, { datanets });
    expect(await startJobAttempt(deps, long.id)).toMatchObject({ started: true });
    deps.sent.length = 0;
    expect(await startJobAttempt(deps, next.id)).toEqual({ started: false, reason: "account-busy" });
    expect(deps.sent).toEqual([{ queue: "jobs", body: { jobId: next.id }, delaySeconds: ACCOUNT_BUSY_RETRY_SECONDS }]);
    expect(await startJobAttempt(deps, bobs.id)).toMatchObject({ started: true });
    // Once alice's first job has ended, her next one starts.
    await writeTrainerOutput(deps, long);
    await applyJobEvent(deps, trainerEvents(long.id, 1).succeeded());
    expect(await startJobAttempt(deps, next.id)).toMatchObject({ started: true });
  });
});

describe("storage quotas", () => {
  it("limits bytes not yet ingested; an ingested upload frees its share", async () => {
    const deps = jobTestDeps();
    const body = jsonl({ text: "a".repeat(40) }); // 52 bytes
    deps.config.quotas = { ...deps.config.quotas, uploadBytesInFlight: 2 * body.length };
    const datanet = await newDatanet(deps, alice);
    await putUpload(deps, alice, datanet.id, body);
    await putUpload(deps, alice, datanet.id, jsonl({ text: "b".repeat(40) }));
    expect(await refusal(putUpload(deps, alice, datanet.id, jsonl({ text: "c".repeat(40) })))).toMatchObject({
      code: "quota-exceeded",
      status: 403,
      quota: "uploadBytesInFlight",
      limit: 104,
      used: 104,
      requested: 52,
    });
    // bob's uploads count apart.
    await putUpload(deps, bob, datanet.id, jsonl({ text: "d".repeat(40) }));
    // Once one of alice's uploads is ingested, there is room again.
    const first = (await deps.tables.main.query({ pk: `DATANET#${datanet.id}`, skPrefix: "UPLOAD#" })).items[0]!;
    await ingestObject(deps, { key: `uploads/${datanet.id}/${first.uploadId as string}`, size: first.size as number });
    await expect(putUpload(deps, alice, datanet.id, jsonl({ text: "c".repeat(40) }))).resolves.toBeDefined();
  });

  it("an upload whose URL expired unused stops counting", async () => {
    const deps = jobTestDeps();
    deps.config.quotas = { ...deps.config.quotas, uploadBytesInFlight: 100 };
    const datanet = await newDatanet(deps, alice);
    const bytes = Buffer.from(jsonl({ text: "x".repeat(80) }));
    await createUpload(deps, alice, datanet.id, { filename: "a.jsonl", contentType: "application/jsonl", size: bytes.length, sha256: sha256Hex(bytes) });
    expect((await refusal(createUpload(deps, alice, datanet.id, { filename: "b.jsonl", contentType: "application/jsonl", size: bytes.length, sha256: sha256Hex(bytes) }))).quota).toBe("uploadBytesInFlight");
    deps.clock.advance((deps.config.uploadUrlTtlSeconds + 6 * 60) * 1000);
    await expect(createUpload(deps, alice, datanet.id, { filename: "b.jsonl", contentType: "application/jsonl", size: bytes.length, sha256: sha256Hex(bytes) })).resolves.toBeDefined();
  });

  it("limits bytes uploaded per UTC day", async () => {
    const deps = jobTestDeps();
    deps.config.quotas = { ...deps.config.quotas, uploadBytesPerDay: 120 };
    const datanet = await newDatanet(deps, alice);
    await uploadAndIngest(deps, alice, datanet.id, jsonl({ text: "a".repeat(40) }));
    await uploadAndIngest(deps, alice, datanet.id, jsonl({ text: "b".repeat(40) }));
    expect((await refusal(putUpload(deps, alice, datanet.id, jsonl({ text: "c".repeat(40) })))).quota).toBe("uploadBytesPerDay");
  });
});
