import { describe, expect, it } from "vitest";
import { applyJobEvent } from "../../core/jobs/apply-event.ts";
import { startJobAttempt } from "../../core/jobs/start-job.ts";
import { FakeCompute, publishedDatanet, SAMPLE_TEXTS, trainerEvents, writeTrainerOutput } from "../../test/fakes/job-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import type { Job } from "../../core/jobs/model.ts";
import { createApp } from "../app.ts";
import { PROBLEM_BASE, PROBLEM_CONTENT_TYPE } from "../problem.ts";
import { signedInClient } from "../test-support.ts";

/** An app on in-memory deps with a fake compute; bob owns a published public Datanet. */
async function setup(options: { withCompute?: boolean } = {}) {
  const deps = Object.assign(memoryDeps(), { compute: new FakeCompute() });
  const app = createApp(options.withCompute === false ? { ...deps, compute: undefined } : deps, { jobEvents: { pollMs: 5, maxStreamMs: 2000 } });
  const alice = await signedInClient(app);
  const bob = await signedInClient(app);
  const version = await publishedDatanet(deps, { address: bob.address }, SAMPLE_TEXTS);
  return { deps, app, alice, bob, version, datanets: [{ id: version.datanetId, version: 1 }] };
}

async function problem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe(PROBLEM_CONTENT_TYPE);
  const body = (await res.json()) as { type: string; errors?: { in: string; path: string; message: string }[]; [extension: string]: unknown };
  expect(body.type).toBe(`${PROBLEM_BASE}${code}`);
  return body;
}

/** Reads server-sent events until the stream ends. */
async function readEvents(res: Response): Promise<{ event: string; id: string; data: unknown }[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((block) => block.trim())
    .map((block) => {
      const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
      return { event: fields.event!, id: fields.id!, data: JSON.parse(fields.data!) as unknown };
    });
}

describe("job routes", () => {
  it("creates a job from datanets alone, lists and gets it; others read a public-data job but do not list it", async () => {
    const { alice, bob, datanets } = await setup();
    const res = await alice.request("/v1/jobs", { json: { datanets } });
    expect(res.status).toBe(201);
    const job = (await res.json()) as Job;
    expect(job).toMatchObject({ status: "QUEUED", baseModel: "mf-tiny-sotu", lora: { rank: 16 }, owner: alice.address });
    expect(await (await alice.request(`/v1/jobs/${job.id}`)).json()).toEqual(job);
    expect(((await (await alice.request("/v1/jobs?status=QUEUED")).json()) as { items: Job[] }).items.map((j) => j.id)).toEqual([job.id]);
    expect(((await (await alice.request("/v1/jobs?status=RUNNING")).json()) as { items: Job[] }).items).toEqual([]);
    await problem(await alice.request("/v1/jobs?status=DONE"), 400, "validation-failed");
    expect(job.visibility).toBe("public");
    // A job on public data is readable by anyone signed in (its adapter links to it), but it is listed only for its owner.
    expect(await (await bob.request(`/v1/jobs/${job.id}`)).json()).toEqual(job);
    expect(((await (await bob.request("/v1/jobs")).json()) as { items: Job[] }).items).toEqual([]);
    await problem(await bob.request(`/v1/jobs/${job.id}/cancel`, { method: "POST" }), 404, "not-found");
  });

  it("hides a job on a private Datanet from everyone but its owner: get, events and cancel answer 404", async () => {
    const { deps, bob, alice } = await setup();
    const secret = await publishedDatanet(deps, { address: bob.address }, SAMPLE_TEXTS, { visibility: "private" });
    const job = (await (await bob.request("/v1/jobs", { json: { datanets: [{ id: secret.datanetId, version: 1 }] } })).json()) as Job;
    expect(job.visibility).toBe("private");
    expect((await bob.request(`/v1/jobs/${job.id}`)).status).toBe(200);
    await problem(await alice.request(`/v1/jobs/${job.id}`), 404, "not-found");
    await problem(await alice.request(`/v1/jobs/${job.id}/events`), 404, "not-found");
    await problem(await alice.request(`/v1/jobs/${job.id}/cancel`, { method: "POST" }), 404, "not-found");
  });

  it("answers bad inputs with clear problems", async () => {
    const { deps, alice, bob, datanets, version } = await setup();
    const invalid = await problem(await alice.request("/v1/jobs", { json: { datanets, lora: { rank: 0, dropout: 0.9 }, training: { learningRate: 5 } } }), 400, "validation-failed");
    expect(invalid.errors!.map((e) => e.path).sort()).toEqual(["lora.dropout", "lora.rank", "training.learningRate"]);
    const tooWide = await problem(await alice.request("/v1/jobs", { json: { datanets, lora: { rank: 200 } } }), 400, "validation-failed");
    expect(tooWide.errors).toEqual([{ in: "body", path: "lora.rank", message: "must be at most 96, the hidden size of mf-tiny-sotu" }]);
    await problem(await alice.request("/v1/jobs", { json: {} }), 400, "validation-failed");
    await problem(await alice.request("/v1/jobs", { json: { datanets, baseModel: "llama-70b" } }), 400, "unknown-base-model");
    await problem(await alice.request("/v1/jobs", { json: { datanets: [{ id: version.datanetId, version: 9 }] } }), 404, "datanet-version-not-found");
    const secret = await publishedDatanet(deps, { address: bob.address }, SAMPLE_TEXTS, { visibility: "private" });
    await problem(await alice.request("/v1/jobs", { json: { datanets: [{ id: secret.datanetId, version: 1 }] } }), 404, "not-found");
    expect((await bob.request("/v1/jobs", { json: { datanets: [{ id: secret.datanetId, version: 1 }] } })).status).toBe(201);
  });

  it("answers a job over its account's quota with 403 quota-exceeded problem+json naming the quota and limit", async () => {
    const { deps, alice, datanets } = await setup();
    deps.config.quotas = { ...deps.config.quotas, sequencesPerJob: 500 };
    const body = await problem(await alice.request("/v1/jobs", { json: { datanets, training: { maxSteps: 100_000, batchSize: 8 } } }), 403, "quota-exceeded");
    expect(body).toMatchObject({ quota: "sequencesPerJob", limit: 500, requested: 800_000 });
  });

  it("cancels; a second cancel is 409; without a compute cancel is 503", async () => {
    const { deps, alice, datanets } = await setup();
    const job = (await (await alice.request("/v1/jobs", { json: { datanets } })).json()) as Job;
    await startJobAttempt(deps, job.id);
    const res = await alice.request(`/v1/jobs/${job.id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "CANCELLED" });
    expect(deps.compute.cancelled).toEqual(["run-1"]);
    await problem(await alice.request(`/v1/jobs/${job.id}/cancel`, { method: "POST" }), 409, "job-finished");

    const bare = await setup({ withCompute: false });
    const other = (await (await bare.alice.request("/v1/jobs", { json: { datanets: bare.datanets } })).json()) as Job;
    await problem(await bare.alice.request(`/v1/jobs/${other.id}/cancel`, { method: "POST" }), 503, "compute-unavailable");
  });

  it("streams the job's state, its progress and status changes, and closes at the end", async () => {
    // Prepare
    const { deps, alice, bob, datanets } = await setup();
    const job = (await (await alice.request("/v1/jobs", { json: { datanets } })).json()) as Job;
    await startJobAttempt(deps, job.id);
    // Act: the trainer reports while the client reads.
    const res = await alice.request(`/v1/jobs/${job.id}/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reading = readEvents(res);
    const ev = trainerEvents(job.id, 1);
    const pause = () => new Promise((r) => setTimeout(r, 30));
    await pause();
    await applyJobEvent(deps, ev.started());
    await pause();
    await applyJobEvent(deps, ev.progress(10, 3.2));
    await pause();
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, ev.succeeded());
    const events = await reading;
    // Assess
    expect(events[0]).toMatchObject({ event: "job", data: { id: job.id, status: "STARTING" } });
    expect(events.filter((e) => e.event === "status").map((e) => (e.data as Job).status)).toEqual(["RUNNING", "SUCCEEDED"]);
    expect(events.find((e) => e.event === "progress")).toMatchObject({ data: { status: "RUNNING", progress: { step: 10, loss: 3.2 }, point: { step: 10, loss: 3.2 } } });
    expect((events.at(-1)!.data as Job).adapterId).toMatch(/^ad_/);
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    // A reconnect naming the latest revision gets no repeat; the job has ended, so the stream closes at once.
    const again = await readEvents(await alice.request(`/v1/jobs/${job.id}/events`, { headers: { "last-event-id": events.at(-1)!.id } }));
    expect(again).toEqual([]);
    const fresh = await readEvents(await alice.request(`/v1/jobs/${job.id}/events`, { headers: { "last-event-id": "1" } }));
    expect(fresh).toMatchObject([{ event: "job", data: { status: "SUCCEEDED" } }]);
  });

  it("closes a stream after its time is up so the client reconnects", async () => {
    const deps = Object.assign(memoryDeps(), { compute: new FakeCompute() });
    const app = createApp(deps, { jobEvents: { pollMs: 5, maxStreamMs: 50 } });
    const alice = await signedInClient(app);
    const version = await publishedDatanet(deps, { address: alice.address }, SAMPLE_TEXTS);
    const job = (await (await alice.request("/v1/jobs", { json: { datanets: [{ id: version.datanetId, version: 1 }] } })).json()) as Job;
    const events = await readEvents(await alice.request(`/v1/jobs/${job.id}/events`));
    expect(events).toMatchObject([{ event: "job", data: { status: "QUEUED" } }]);
  });
});

describe("base-model and adapter routes", () => {
  it("lists the base models", async () => {
    const { alice } = await setup();
    const { items } = (await (await alice.request("/v1/base-models")).json()) as { items: { id: string; sha256: string }[] };
    expect(items).toMatchObject([{ id: "mf-tiny-sotu", sha256: expect.stringMatching(/^0x[0-9a-f]{64}$/) }]);
  });

  it("lists adapters to anyone signed in, with their chain status, and gets one", async () => {
    const { deps, alice, bob, datanets } = await setup();
    const job = (await (await alice.request("/v1/jobs", { json: { datanets } })).json()) as Job;
    await startJobAttempt(deps, job.id);
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
    const adapterId = ((await (await alice.request(`/v1/jobs/${job.id}`)).json()) as Job).adapterId!;

    const page = (await (await bob.request("/v1/adapters")).json()) as { items: { id: string; chain: { status: string } }[] };
    expect(page.items).toMatchObject([{ id: adapterId, owner: alice.address, chain: { status: "pending" } }]);
    expect(((await (await bob.request(`/v1/adapters?owner=${bob.address}`)).json()) as { items: unknown[] }).items).toEqual([]);
    expect(((await (await bob.request(`/v1/adapters?owner=${alice.address}&baseModel=mf-tiny-sotu`)).json()) as { items: unknown[] }).items).toHaveLength(1);
    await problem(await bob.request("/v1/adapters?owner=nobody"), 400, "validation-failed");
    const adapter = (await (await bob.request(`/v1/adapters/${adapterId}`)).json()) as { datanets: { weightBps: number }[]; fingerprint: string };
    expect(adapter).toMatchObject({ id: adapterId, jobId: job.id, datanets: [{ weightBps: 10_000 }], fingerprint: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    await problem(await bob.request("/v1/adapters/ad_nope"), 404, "not-found");
  });

  it("documents the new routes in the OpenAPI document", async () => {
    const { app } = await setup();
    const doc = (await (await app.request("/openapi.json")).json()) as { paths: Record<string, unknown> };
    for (const path of ["/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/cancel", "/v1/jobs/{id}/events", "/v1/base-models", "/v1/adapters", "/v1/adapters/{id}"]) {
      expect(doc.paths[path], path).toBeDefined();
    }
  });
});
