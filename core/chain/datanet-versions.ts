import type { Address } from "../account.ts";
import { datanetFromItem, versionFromItem } from "../datanets/items.ts";
import { datanetKey, versionKey } from "../datanets/keys.ts";
import type { DatanetVersion } from "../datanets/model.ts";
import { NotFoundError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import type { CoreDeps } from "../deps.ts";
import type { PublishVersionRequest } from "./chain.ts";
import { chainStatusOf, versionChainKey, type ChainStatus } from "./model.ts";
import { syncRecord, type ChainSyncDeps } from "./sync-record.ts";

/**
 * Publishes a Datanet version on chain (creating the Datanet there first when
 * needed), records the transaction hash and block, and emits
 * `datanet.version.onchain`. Idempotent by (datanetId, version): a replay
 * sends no second transaction. A version the chain already holds with another
 * root is marked failed, never overwritten.
 */
export async function syncVersionToChain(deps: ChainSyncDeps, version: DatanetVersion): Promise<ChainStatus> {
  const datanetItem = await deps.tables.main.get(datanetKey(version.datanetId));
  if (!datanetItem) throw new NotFoundError(`Datanet ${version.datanetId}`);
  const datanet = datanetFromItem(datanetItem);
  const owner = datanet.owner as Address;
  const base = deps.config.apiOrigin.replace(/\/$/, "");
  // A private Datanet goes on chain as its root only: no URI names it or its version.
  const named = datanet.visibility === "public";
  const request: PublishVersionRequest = {
    datanetId: version.datanetId,
    owner,
    metadataUri: named ? `${base}/v1/datanets/${version.datanetId}` : "",
    version: version.version,
    root: version.root,
    records: version.records,
    tokens: version.tokens,
    manifestUri: named ? `${base}/v1/datanets/${version.datanetId}/versions/${version.version}` : "",
  };
  return syncRecord(deps, {
    key: versionChainKey(version.datanetId, version.version),
    kind: "datanet-version",
    subject: { datanetId: version.datanetId, version: version.version, root: version.root },
    async find() {
      const onChain = await deps.chain.findDatanetVersion(version.datanetId, version.version);
      if (!onChain) return undefined;
      if (onChain.root.toLowerCase() !== version.root.toLowerCase()) {
        return { conflict: `version ${version.version} is on chain with root ${onChain.root}, not ${version.root}` };
      }
      return { tx: onChain.tx };
    },
    send: (onSubmitted) => deps.chain.publishDatanetVersion(request, onSubmitted),
    onConfirmed: (tx) => [
      eventWrite(
        "datanet.version.onchain",
        {
          datanetId: version.datanetId,
          version: version.version,
          root: version.root,
          chainId: deps.chain.chainId,
          txHash: tx?.txHash ?? null,
          blockNumber: tx?.blockNumber ?? null,
        },
        [owner],
        deps.clock.now(),
      ),
    ],
  });
}

/** The chain status of a Datanet version, for `GET /v1/datanets/{id}/versions/{version}`; `pending` until synced. */
export async function getVersionChainStatus(deps: Pick<CoreDeps, "tables">, datanetId: string, version: number): Promise<ChainStatus> {
  return chainStatusOf(await deps.tables.main.get(versionChainKey(datanetId, version)));
}

/** Loads a published version item and syncs it; for consumers that only know (datanetId, version). */
export async function syncVersionByIdToChain(deps: ChainSyncDeps, datanetId: string, version: number): Promise<ChainStatus | undefined> {
  const item = await deps.tables.main.get(versionKey(datanetId, version));
  if (!item || item.state !== "published") return undefined;
  return syncVersionToChain(deps, versionFromItem(item));
}
