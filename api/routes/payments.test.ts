import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { applyJobEvent } from "../../core/jobs/apply-event.ts";
import type { Job } from "../../core/jobs/model.ts";
import { startJobAttempt } from "../../core/jobs/start-job.ts";
import { recordFreeCall } from "../../core/payments/paid-calls.ts";
import { rewardKey } from "../../core/settlement/keys.ts";
import { FakeCompute, publishedDatanet, SAMPLE_TEXTS, trainerEvents, writeTrainerOutput } from "../../test/fakes/job-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { createApp } from "../app.ts";
import { PROBLEM_BASE } from "../problem.ts";
import { signedInClient } from "../test-support.ts";

async function world() {
  const usage = new SqliteTableStore(new DatabaseSync(":memory:"), "usage", { stream: true });
  const deps = Object.assign(memoryDeps(), { compute: new FakeCompute(), payments: { usage, isClaimed: async (epoch: number) => epoch === 1 } });
  const app = createApp(deps);
  const alice = await signedInClient(app);
  const bob = await signedInClient(app);
  const version = await publishedDatanet(deps, { address: bob.address }, SAMPLE_TEXTS);
  const job = (await (await alice.request("/v1/jobs", { json: { datanets: [{ id: version.datanetId, version: 1 }] } })).json()) as Job;
  await startJobAttempt(deps, job.id);
  await writeTrainerOutput(deps, job);
  await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
  const adapterId = ((await (await alice.request(`/v1/jobs/${job.id}`)).json()) as Job).adapterId!;
  return { deps, usage, app, alice, bob, adapterId };
}

describe("payment routes", () => {
  it("lets the owner set a price in base units, shows it to others, refuses others and bad amounts", async () => {
    const { alice, bob, adapterId } = await world();
    expect(await (await bob.request(`/v1/adapters/${adapterId}/price`)).json()).toMatchObject({ perCall: "0", perThousandOutputTokens: "0", updatedAt: null });
    const put = await alice.request(`/v1/adapters/${adapterId}/price`, { method: "PUT", json: { perCall: "1500", perThousandOutputTokens: "20000" } });
    expect(put.status).toBe(200);
    expect(await (await bob.request(`/v1/adapters/${adapterId}/price`)).json()).toMatchObject({ perCall: "1500", perThousandOutputTokens: "20000" });
    // The adapter's own views carry it too, for one adapter and in the listing.
    expect(await (await bob.request(`/v1/adapters/${adapterId}`)).json()).toMatchObject({ id: adapterId, price: { perCall: "1500", perThousandOutputTokens: "20000", updatedAt: expect.any(String) } });
    const listed = (await (await bob.request(`/v1/adapters`)).json()) as { items: { id: string; price: unknown }[] };
    expect(listed.items.find((a) => a.id === adapterId)?.price).toMatchObject({ perCall: "1500" });
    const forbidden = await bob.request(`/v1/adapters/${adapterId}/price`, { method: "PUT", json: { perCall: "1", perThousandOutputTokens: "0" } });
    expect(forbidden.status).toBe(403);
    for (const bad of [{ perCall: "-1", perThousandOutputTokens: "0" }, { perCall: 5, perThousandOutputTokens: "0" }, { perCall: "1.5", perThousandOutputTokens: "0" }, { perCall: "1" }]) {
      const res = await alice.request(`/v1/adapters/${adapterId}/price`, { method: "PUT", json: bad });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}validation-failed`);
    }
  });

  it("lists usage for the payer and the adapter's owner only", async () => {
    const { deps, usage, alice, bob, adapterId } = await world();
    const clock = deps.clock;
    const outcome = { adapterId, baseModel: "tiny", owner: alice.address, promptTokens: 3, completionTokens: 4, finishReason: "stop" as const, attribution: { method: "static", contributors: [] } };
    await recordFreeCall({ usage, clock, epochSeconds: 60 }, "chatcmpl-1", bob.address, { perCall: "0", perThousandOutputTokens: "0" }, outcome);
    const mine = (await (await bob.request("/v1/usage")).json()) as { items: { requestId: string }[] };
    expect(mine.items.map((i) => i.requestId)).toEqual(["chatcmpl-1"]);
    const owned = (await (await alice.request(`/v1/usage?adapter=${adapterId}`)).json()) as { items: { requestId: string }[] };
    expect(owned.items.map((i) => i.requestId)).toEqual(["chatcmpl-1"]);
    expect((await (await bob.request(`/v1/usage?adapter=${adapterId}`)).json()).items).toEqual([]);
    expect((await bob.request(`/v1/usage?payer=${alice.address}`)).status).toBe(403);
    expect(await (await bob.request("/v1/usage/chatcmpl-1")).json()).toMatchObject({ requestId: "chatcmpl-1", charged: "0", settlement: { status: "not-charged" } });
    const stranger = await signedInClient((await world()).app);
    expect((await stranger.request("/v1/usage/chatcmpl-1")).status).toBe(404);
  });

  it("serves an account's epochs with proofs, claim status and totals", async () => {
    const { usage, bob } = await world();
    await usage.put({ ...rewardKey(bob.address, 7), period: 7, epoch: 1, amount: "700", root: `0x${"11".repeat(32)}`, proof: [`0x${"22".repeat(32)}`] });
    await usage.put({ ...rewardKey(bob.address, 9), period: 9, epoch: 2, amount: "300", root: `0x${"33".repeat(32)}`, proof: [] });
    await usage.put({ pk: `EARN#${bob.address}`, sk: "P#000000000010#r1", amount: "55" });
    await usage.put({ pk: "SETTLEMENT", sk: "CURSOR", next: 10 });
    const res = (await (await bob.request(`/v1/rewards/${bob.address.toLowerCase()}`)).json()) as { epochs: unknown[]; totals: unknown };
    expect(res.epochs).toEqual([
      { period: 7, epoch: 1, amount: "700", root: `0x${"11".repeat(32)}`, proof: [`0x${"22".repeat(32)}`], claimed: true },
      { period: 9, epoch: 2, amount: "300", root: `0x${"33".repeat(32)}`, proof: [], claimed: false },
    ]);
    expect(res.totals).toEqual({ earned: "1000", claimed: "700", claimable: "300", pending: "55" });
    expect((await bob.request("/v1/rewards/not-an-address")).status).toBe(400);
  });
});
