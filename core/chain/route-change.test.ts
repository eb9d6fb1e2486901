import { describe, expect, it } from "vitest";
import { alice, bob } from "../../test/fakes/datanet-fixtures.ts";
import { jobTestDeps, publishedDatanet, SAMPLE_TEXTS, trainerEvents, writeTrainerOutput } from "../../test/fakes/job-fixtures.ts";
import { eventWrite, type EventType } from "../events.ts";
import { applyJobEvent } from "../jobs/apply-event.ts";
import { createJob } from "../jobs/jobs.ts";
import { startJobAttempt } from "../jobs/start-job.ts";
import type { Item } from "../ports/tables.ts";
import type { AdapterToRegister } from "./adapters.ts";
import type { Chain, ChainTx, PublishVersionRequest } from "./chain.ts";
import { routeChainSyncChange } from "./route-change.ts";
import type { ChainSyncDeps } from "./sync-record.ts";

/** A chain that records registrations (the real one is exercised in adapters/chain/chain-sync.test.ts). */
function recordingChain() {
  const registered: AdapterToRegister[] = [];
  const chain = {
    chainId: 31337,
    adapterFingerprint: (r: AdapterToRegister) => `0x${"f".repeat(64)}${r.adapterId}`.slice(0, 66),
    findAdapter: async () => undefined,
    registerAdapter: async (r: AdapterToRegister): Promise<ChainTx & { fingerprint: string }> => {
      registered.push(r);
      return { txHash: `0x${"1".repeat(64)}`, blockNumber: 5, fingerprint: "" };
    },
  } as unknown as Chain;
  return { chain, registered };
}

const insert = (type: EventType, data: Record<string, unknown>) => ({ eventName: "INSERT" as const, newImage: (eventWrite(type, data, [], 0) as { put: Item }).put });

describe("routeChainSyncChange on adapter.created", () => {
  it("registers the finalized adapter once, with its API URI and Datanet weights", async () => {
    // Prepare: a job finalized into an adapter.
    const deps = jobTestDeps();
    const version = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
    const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
    await startJobAttempt(deps, job.id);
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
    const { chain, registered } = recordingChain();
    const chainDeps: ChainSyncDeps = { ...deps, chain };
    const adapterId = `ad_${job.id.slice(4)}`;
    // Act
    const status = await routeChainSyncChange(chainDeps, insert("adapter.created", { adapterId }));
    const again = await routeChainSyncChange(chainDeps, insert("adapter.created", { adapterId }));
    // Assess
    expect(status).toMatchObject({ status: "confirmed", blockNumber: 5 });
    expect(again).toEqual(status);
    expect(registered).toHaveLength(1);
    expect(registered[0]).toMatchObject({
      adapterId,
      owner: alice.address,
      sources: [{ datanetId: version.datanetId, version: 1, root: version.root, weightBps: 10_000 }],
      pricePerCall: "0",
      uri: `${deps.config.apiOrigin}/v1/adapters/${adapterId}`,
    });
    expect(await routeChainSyncChange(chainDeps, insert("adapter.created", { adapterId: "ad_unknown" }))).toBeUndefined();
    expect(await routeChainSyncChange(chainDeps, insert("job.succeeded", { adapterId }))).toBeUndefined();
  });
});

describe("a private Datanet and its adapter go on chain as hashes only", () => {
  it("publishes the version's root with no URI naming it, and registers the adapter with no URI", async () => {
    // Prepare: alice's private Datanet, a version, and an adapter trained on it.
    const deps = jobTestDeps();
    const version = await publishedDatanet(deps, alice, SAMPLE_TEXTS, { visibility: "private" });
    const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
    await startJobAttempt(deps, job.id);
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
    const published: PublishVersionRequest[] = [];
    const { chain, registered } = recordingChain();
    Object.assign(chain, {
      findDatanetVersion: async () => undefined,
      publishDatanetVersion: async (r: PublishVersionRequest): Promise<ChainTx> => {
        published.push(r);
        return { txHash: `0x${"2".repeat(64)}`, blockNumber: 6 };
      },
    });
    const chainDeps: ChainSyncDeps = { ...deps, chain };
    // Act
    await routeChainSyncChange(chainDeps, insert("datanet.version.published", { datanetId: version.datanetId, version: 1 }));
    await routeChainSyncChange(chainDeps, insert("adapter.created", { adapterId: `ad_${job.id.slice(4)}` }));
    // Assess
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ root: version.root, metadataUri: "", manifestUri: "" });
    expect(registered).toHaveLength(1);
    expect(registered[0]!.uri).toBe("");
  });
});
