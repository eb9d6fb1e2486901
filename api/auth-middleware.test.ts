import { describe, expect, it } from "vitest";
import { applyJobEvent } from "../core/jobs/apply-event.ts";
import type { Job } from "../core/jobs/model.ts";
import { startJobAttempt } from "../core/jobs/start-job.ts";
import { FakeCompute, publishedDatanet, SAMPLE_TEXTS, trainerEvents, writeTrainerOutput } from "../test/fakes/job-fixtures.ts";
import { memoryDeps } from "../test/fakes/memory-deps.ts";
import { createApp } from "./app.ts";
import { PUBLIC_READS } from "./auth-middleware.ts";
import { PROBLEM_BASE } from "./problem.ts";
import { signedInClient } from "./test-support.ts";

/**
 * Public reads: a visitor without a key sees public Datanets and adapters (and what hangs off them);
 * private ones answer 404 exactly as for another signed-in account, and writes still need a key.
 */

/** Alice owns a public and a private Datanet, each with a version, and one adapter trained on each. */
async function world() {
  const deps = Object.assign(memoryDeps(), { compute: new FakeCompute() });
  const app = createApp(deps);
  const alice = await signedInClient(app);
  const bob = await signedInClient(app);
  const owner = { address: alice.address };
  const pub = await publishedDatanet(deps, owner, SAMPLE_TEXTS);
  const priv = await publishedDatanet(deps, owner, SAMPLE_TEXTS.map((t) => `${t} (private)`), { visibility: "private" });
  const train = async (datanetId: string) => {
    const job = (await (await alice.request("/v1/jobs", { json: { datanets: [{ id: datanetId, version: 1 }] } })).json()) as Job;
    await startJobAttempt(deps, job.id);
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
    return (await (await alice.request(`/v1/jobs/${job.id}`)).json()) as Job;
  };
  const pubJob = await train(pub.datanetId);
  const privJob = await train(priv.datanetId);
  return { app, alice, bob, pub, priv, pubJob, privJob };
}

const anonymous = (app: ReturnType<typeof createApp>, path: string, init: RequestInit = {}) => app.request(path, init);
const typeOf = async (res: Response) => ((await res.json()) as { type: string }).type.replace(PROBLEM_BASE, "");

/** The GET paths of one Datanet and one adapter, as the web UI's public pages read them. */
const readsOf = (datanetId: string, job: Job) => [
  `/v1/datanets/${datanetId}`,
  `/v1/datanets/${datanetId}/contributions`,
  `/v1/datanets/${datanetId}/stats`,
  `/v1/datanets/${datanetId}/versions/1`,
  `/v1/adapters/${job.adapterId}`,
  `/v1/adapters/${job.adapterId}/price`,
  `/v1/jobs/${job.id}`,
];

describe("public reads without a key", () => {
  it("show public Datanets, their contributions, statistics, versions, proofs, adapters, prices and jobs", async () => {
    const { app, pub, pubJob } = await world();
    for (const path of readsOf(pub.datanetId, pubJob)) expect((await anonymous(app, path)).status, path).toBe(200);
    const contributions = (await (await anonymous(app, `/v1/datanets/${pub.datanetId}/contributions`)).json()) as { items: { id: string }[] };
    expect(contributions.items.length).toBe(SAMPLE_TEXTS.length);
    const proof = await anonymous(app, `/v1/datanets/${pub.datanetId}/versions/1/proof?contribution=${contributions.items[0]!.id}`);
    expect(proof.status).toBe(200);
    // HEAD is a read too.
    expect((await anonymous(app, `/v1/datanets/${pub.datanetId}`, { method: "HEAD" })).status).toBe(200);
  });

  it("list public Datanets and adapters only", async () => {
    const { app, alice, pub, priv, pubJob, privJob } = await world();
    const datanets = (await (await anonymous(app, "/v1/datanets")).json()) as { items: { id: string }[] };
    expect(datanets.items.map((d) => d.id)).toEqual([pub.datanetId]);
    const adapters = (await (await anonymous(app, "/v1/adapters")).json()) as { items: { id: string }[] };
    expect(adapters.items.map((a) => a.id)).toEqual([pubJob.adapterId]);
    const byOwner = (await (await anonymous(app, `/v1/adapters?owner=${alice.address}`)).json()) as { items: { id: string }[] };
    expect(byOwner.items.map((a) => a.id)).toEqual([pubJob.adapterId]);
    // The owner, with her key, still sees both.
    const own = (await (await alice.request("/v1/datanets")).json()) as { items: { id: string }[] };
    expect(own.items.map((d) => d.id).sort()).toEqual([pub.datanetId, priv.datanetId].sort());
    expect(((await (await alice.request("/v1/adapters")).json()) as { items: unknown[] }).items).toHaveLength(2);
    expect(privJob.adapterId).toBeDefined();
  });

  it("answer 404 for private items, exactly as they do for another account", async () => {
    const { app, bob, priv, privJob } = await world();
    for (const path of [...readsOf(priv.datanetId, privJob), `/v1/datanets/dn_missing`, `/v1/adapters/ad_missing`]) {
      const visitor = await anonymous(app, path);
      const other = await bob.request(path);
      expect([path, visitor.status], path).toEqual([path, 404]);
      expect(other.status, path).toBe(404);
      const [a, b] = [await visitor.json(), await other.json()] as { detail?: string }[];
      expect(a, path).toEqual(b);
    }
  });

  it("leave writes, other reads and bad keys as they were", async () => {
    const { app, pub, pubJob } = await world();
    const problem = async (res: Response, status: number, type: string) => {
      expect(res.status).toBe(status);
      expect(await typeOf(res)).toBe(type);
    };
    await problem(await anonymous(app, "/v1/datanets", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }), 401, "missing-api-key");
    await problem(await anonymous(app, `/v1/datanets/${pub.datanetId}/versions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }), 401, "missing-api-key");
    await problem(await anonymous(app, `/v1/adapters/${pubJob.adapterId}/price`, { method: "PUT", headers: { "content-type": "application/json" }, body: "{}" }), 401, "missing-api-key");
    for (const path of ["/v1/jobs", "/v1/me", "/v1/keys", "/v1/webhooks", `/v1/jobs/${pubJob.id}/events`, `/v1/adapters/${pubJob.adapterId}/files/metrics.json`, `/v1/datanets/${pub.datanetId}/uploads/up_1`]) {
      await problem(await anonymous(app, path), 401, "missing-api-key");
    }
    // A key that is sent is checked even on a public read.
    await problem(await anonymous(app, "/v1/datanets", { headers: { authorization: `Bearer mf_${"x".repeat(43)}` } }), 401, "invalid-api-key");
    await problem(await anonymous(app, "/v1/datanets", { headers: { authorization: "Basic dXNlcjpwdw==" } }), 401, "invalid-api-key");
  });

  it("are the routes the OpenAPI document marks as needing no credentials", async () => {
    const { app } = await world();
    const doc = (await (await app.request("/openapi.json")).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    const optional = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).filter(([, op]) => op.security?.some((s) => Object.keys(s as object).length === 0)).map(([method]) => `${method} ${path}`));
    expect(optional.sort()).toEqual(PUBLIC_READS.map((p) => `get ${p}`).sort());
  });
});

describe("contributions as a visitor sees them", () => {
  it("carry the upload's file name and each accepted record's content", async () => {
    const { app, pub } = await world();
    const page = (await (await anonymous(app, `/v1/datanets/${pub.datanetId}/contributions`)).json()) as {
      items: { status: string; filename: string | null; content: string | null; contentTruncated: boolean }[];
    };
    expect(page.items.map((c) => JSON.parse(c.content!).text).sort()).toEqual([...SAMPLE_TEXTS].sort());
    expect(new Set(page.items.map((c) => c.filename))).toEqual(new Set(["data.jsonl"]));
    expect(page.items.every((c) => !c.contentTruncated)).toBe(true);
  });
});
