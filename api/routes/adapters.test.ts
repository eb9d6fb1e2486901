import { describe, expect, it } from "vitest";
import { applyJobEvent } from "../../core/jobs/apply-event.ts";
import type { Job } from "../../core/jobs/model.ts";
import { startJobAttempt } from "../../core/jobs/start-job.ts";
import { FakeCompute, publishedDatanet, SAMPLE_TEXTS, trainerEvents, writeTrainerOutput } from "../../test/fakes/job-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { createApp } from "../app.ts";
import { PROBLEM_BASE, PROBLEM_CONTENT_TYPE } from "../problem.ts";
import { signedInClient } from "../test-support.ts";

/** Alice fine-tunes on a Datanet (bob's public one by default, or her own private one) until her job has an adapter; bob only looks. */
async function withAdapter(options: { privateData?: boolean } = {}) {
  const deps = Object.assign(memoryDeps(), { compute: new FakeCompute() });
  const app = createApp(deps);
  const alice = await signedInClient(app);
  const bob = await signedInClient(app);
  const version = options.privateData
    ? await publishedDatanet(deps, { address: alice.address }, SAMPLE_TEXTS, { visibility: "private" })
    : await publishedDatanet(deps, { address: bob.address }, SAMPLE_TEXTS);
  const job = (await (await alice.request("/v1/jobs", { json: { datanets: [{ id: version.datanetId, version: 1 }] } })).json()) as Job;
  await startJobAttempt(deps, job.id);
  await writeTrainerOutput(deps, job);
  await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
  const adapterId = ((await (await alice.request(`/v1/jobs/${job.id}`)).json()) as Job).adapterId!;
  return { deps, app, alice, bob, job, adapterId };
}

async function problem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe(PROBLEM_CONTENT_TYPE);
  expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}${code}`);
}

describe("a private adapter (trained on a private Datanet version)", () => {
  it("is listed, read and downloaded by its owner only; to everyone else it answers 404 like an unknown one", async () => {
    const { alice, bob, job, adapterId } = await withAdapter({ privateData: true });
    const own = (await (await alice.request(`/v1/adapters/${adapterId}`)).json()) as { visibility: string; promptTemplate: string };
    expect(own).toMatchObject({ visibility: "private", promptTemplate: "text" });
    expect(((await (await alice.request("/v1/adapters")).json()) as { items: { id: string }[] }).items.map((a) => a.id)).toEqual([adapterId]);
    expect((await alice.request(`/v1/adapters/${adapterId}/files/attribution.json`)).status).toBe(302);

    expect(((await (await bob.request("/v1/adapters")).json()) as { items: unknown[] }).items).toEqual([]);
    expect(((await (await bob.request(`/v1/adapters?owner=${alice.address}`)).json()) as { items: unknown[] }).items).toEqual([]);
    await problem(await bob.request(`/v1/adapters/${adapterId}`), 404, "not-found");
    for (const file of ["attribution.json", "adapter_model.safetensors", "adapter_config.json", "metrics.json"]) {
      await problem(await bob.request(`/v1/adapters/${adapterId}/files/${file}`), 404, "not-found");
    }
    await problem(await bob.request(`/v1/jobs/${job.id}`), 404, "not-found");
  });

  it("a public adapter links to a job every signed-in visitor can open", async () => {
    const { bob, adapterId } = await withAdapter();
    const adapter = (await (await bob.request(`/v1/adapters/${adapterId}`)).json()) as { jobId: string; visibility: string };
    expect(adapter.visibility).toBe("public");
    const job = await bob.request(`/v1/jobs/${adapter.jobId}`);
    expect(job.status).toBe(200);
    expect(((await job.json()) as Job).adapterId).toBe(adapterId);
  });
});

describe("GET /v1/adapters/{id}/files/{file}", () => {
  it("redirects any signed-in caller to a 5-minute presigned URL of the file, saved under its name", async () => {
    const { deps, bob, job, adapterId } = await withAdapter();
    const res = await bob.request(`/v1/adapters/${adapterId}/files/adapter_model.safetensors`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toMatch(/^memory:\/\/blobs\/jobs\/.+\/adapter_model\.safetensors\?/);
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    expect(deps.blobs.presignedDownloads).toEqual([
      { key: `jobs/${job.id}/output/adapter/adapter_model.safetensors`, expiresInSeconds: 300, filename: "adapter_model.safetensors" },
    ]);
  });

  it("answers the link as JSON with redirect=false, for each of the four files", async () => {
    const { deps, alice, adapterId } = await withAdapter();
    const adapter = (await (await alice.request(`/v1/adapters/${adapterId}`)).json()) as { files: Record<string, string> };
    for (const [file, key] of [
      ["adapter_config.json", adapter.files.config],
      ["adapter_model.safetensors", adapter.files.weights],
      ["attribution.json", adapter.files.attribution],
      ["metrics.json", adapter.files.metrics],
    ] as const) {
      const res = await alice.request(`/v1/adapters/${adapterId}/files/${file}?redirect=false`);
      expect(res.status).toBe(200);
      const link = (await res.json()) as { url: string; expiresAt: string };
      expect(link.url).toContain(`memory://blobs/${key}?`);
      expect(Date.parse(link.expiresAt)).toBe(deps.clock.now() + 300_000);
    }
  });

  it("refuses another file name, an unknown adapter, a bad redirect flag and a missing API key", async () => {
    const { app, bob, adapterId } = await withAdapter();
    await problem(await bob.request(`/v1/adapters/${adapterId}/files/model.safetensors`), 400, "validation-failed");
    await problem(await bob.request(`/v1/adapters/${adapterId}/files/..%2Fspec-1.json`), 400, "validation-failed");
    await problem(await bob.request(`/v1/adapters/${adapterId}/files/metrics.json?redirect=maybe`), 400, "validation-failed");
    await problem(await bob.request("/v1/adapters/ad_nope/files/metrics.json"), 404, "not-found");
    await problem(await app.request(`/v1/adapters/${adapterId}/files/metrics.json`), 401, "missing-api-key");
  });

  it("is documented in the OpenAPI document", async () => {
    const { app } = await withAdapter();
    const doc = (await (await app.request("/openapi.json")).json()) as { paths: Record<string, { get?: { responses: Record<string, unknown> } }> };
    expect(Object.keys(doc.paths["/v1/adapters/{id}/files/{file}"]?.get?.responses ?? {})).toEqual(expect.arrayContaining(["200", "302", "400", "404"]));
  });
});
