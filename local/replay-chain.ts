import { adapterFromItem, adapterToRegister } from "../core/adapters/adapters.ts";
import { ADAPTERS_GSI_PK } from "../core/adapters/keys.ts";
import { syncAdapterToChain } from "../core/chain/adapters.ts";
import { syncVersionByIdToChain } from "../core/chain/datanet-versions.ts";
import { syncAdapterPriceToChain } from "../core/chain/adapter-price.ts";
import { ChainNotReadyError } from "../core/chain/errors.ts";
import { adapterChainKey, adapterLatestPriceKey, versionChainKey } from "../core/chain/model.ts";
import { priceKey } from "../core/payments/adapter-prices.ts";
import type { ChainSyncDeps } from "../core/chain/sync-record.ts";
import { DATANETS_GSI_PK, datanetPk } from "../core/datanets/keys.ts";
import { queryAll } from "../core/query-all.ts";

/**
 * The local chain lives in memory, so each start begins from an empty chain.
 * This writes what the tables say was published onto it again — every
 * Datanet version, oldest first — after forgetting the previous run's
 * transaction records (their hashes belong to a chain that is gone) — then
 * every registered adapter, whose registration needs its Datanet versions on
 * chain first, with the price its owner last set. Roots, fingerprints and proofs stay the same; transaction
 * hashes are new.
 */
export async function replayOntoFreshChain(deps: ChainSyncDeps): Promise<number> {
  const main = deps.tables.main;
  let replayed = 0;
  for await (const datanet of queryAll(main, { pk: DATANETS_GSI_PK, index: "gsi1" })) {
    const id = datanet.id as string;
    for await (const version of queryAll(main, { pk: datanetPk(id), skPrefix: "VERSION#" })) {
      const n = version.version as number;
      await main.delete(versionChainKey(id, n));
      await syncVersionByIdToChain(deps, id, n);
      replayed++;
    }
  }
  for await (const item of queryAll(main, { pk: ADAPTERS_GSI_PK, index: "gsi1" })) {
    const adapter = adapterFromItem(item);
    await main.delete(adapterChainKey(adapter.id));
    await syncAdapterToChain(deps, adapterToRegister(adapter, deps.config.apiOrigin));
    replayed++;
    const price = await main.get(priceKey(adapter.id));
    if (price) {
      // The price records of the previous run name a chain that is gone, as the registration's did.
      const latest = adapterLatestPriceKey(adapter.id);
      for await (const record of queryAll(main, { pk: latest.pk })) await main.delete({ pk: record.pk, sk: record.sk });
      await syncAdapterPriceToChain(deps, {
        adapterId: adapter.id,
        perCall: price.perCall as string,
        perThousandOutputTokens: price.perThousandOutputTokens as string,
        setAt: price.updatedAt as string,
      }).catch((error: unknown) => {
        // A registration that failed on chain leaves nothing to price; the rest of the replay goes on.
        if (!(error instanceof ChainNotReadyError)) throw error;
      });
    }
  }
  return replayed;
}
