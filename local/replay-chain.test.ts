import { describe, expect, it } from "vitest";
import { EthersChain } from "../adapters/chain/ethers-chain.ts";
import { startLocalChain } from "../adapters/chain/local-chain.ts";
import { getAdapterChainStatus } from "../core/chain/adapters.ts";
import type { ChainSyncDeps } from "../core/chain/sync-record.ts";
import { applyJobEvent } from "../core/jobs/apply-event.ts";
import { createJob } from "../core/jobs/jobs.ts";
import { startJobAttempt } from "../core/jobs/start-job.ts";
import { setPrice } from "../core/payments/adapter-prices.ts";
import { routeChainSyncChange } from "../core/chain/route-change.ts";
import type { Item } from "../core/ports/tables.ts";
import { alice, bob } from "../test/fakes/datanet-fixtures.ts";
import { jobTestDeps, publishedDatanet, SAMPLE_TEXTS, trainerEvents, writeTrainerOutput } from "../test/fakes/job-fixtures.ts";
import { replayOntoFreshChain } from "./replay-chain.ts";

describe("replayOntoFreshChain", () => {
  it("writes versions, adapters and the price the owner last set onto a fresh chain", { timeout: 60_000 }, async () => {
    // Prepare: a published version, an adapter trained on it, and a price set by its owner, synced to a first chain.
    const deps = jobTestDeps();
    const version = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
    const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
    await startJobAttempt(deps, job.id);
    await writeTrainerOutput(deps, job);
    await applyJobEvent(deps, trainerEvents(job.id, 1).succeeded());
    const adapterId = `ad_${job.id.slice(4)}`;
    const first = await startLocalChain();
    const second = await startLocalChain();
    try {
      const on = (chain: typeof first): ChainSyncDeps => ({ ...deps, chain: new EthersChain(chain.signer, chain.addresses, { retry: { baseMs: 1 } }) });
      await replayOntoFreshChain(on(first));
      await setPrice(deps, alice, adapterId, { perCall: "1500", perThousandOutputTokens: "40" });
      const priceItem = await deps.tables.main.get({ pk: `ADAPTER#${adapterId}`, sk: "PRICE" });
      expect(await routeChainSyncChange(on(first), { eventName: "INSERT", newImage: priceItem as Item })).toMatchObject({ status: "confirmed" });

      // Act: the platform restarts on a fresh chain.
      const replayed = await replayOntoFreshChain(on(second));

      // Assess
      expect(replayed).toBe(2);
      const { fingerprint } = await getAdapterChainStatus(deps, adapterId);
      const onChain = await on(second).chain.findAdapter(fingerprint!);
      expect(onChain).toMatchObject({ owner: alice.address, pricePerCall: "1500", pricePerThousandOutputTokens: "40" });
    } finally {
      await first.close();
      await second.close();
    }
  });
});
