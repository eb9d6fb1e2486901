import { eventFromItem } from "../events.ts";
import type { Item } from "../ports/tables.ts";
import { syncVersionByIdToChain } from "./datanet-versions.ts";
import type { ChainStatus } from "./model.ts";
import type { ChainSyncDeps } from "./sync-record.ts";

/** A main-table change in DynamoDB-stream shape, images already unmarshalled. */
export interface TableChange {
  eventName: "INSERT" | "MODIFY" | "REMOVE";
  newImage?: Item;
}

/**
 * The chain-sync consumer of the main table's stream: a newly written
 * `datanet.version.published` event publishes that version on chain. Other
 * changes are ignored (undefined). Safe to call twice for the same change.
 */
export async function routeChainSyncChange(deps: ChainSyncDeps, change: TableChange): Promise<ChainStatus | undefined> {
  if (change.eventName !== "INSERT") return undefined;
  const event = eventFromItem(change.newImage);
  if (event?.type !== "datanet.version.published") return undefined;
  const { datanetId, version } = event.data as { datanetId?: unknown; version?: unknown };
  if (typeof datanetId !== "string" || typeof version !== "number") return undefined;
  return syncVersionByIdToChain(deps, datanetId, version);
}
