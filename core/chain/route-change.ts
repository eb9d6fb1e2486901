import { adapterToRegister, loadAdapter } from "../adapters/adapters.ts";
import { eventFromItem } from "../events.ts";
import type { Item } from "../ports/tables.ts";
import { syncAdapterPriceToChain, type AdapterPriceSync } from "./adapter-price.ts";
import { syncAdapterToChain } from "./adapters.ts";
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
 * `datanet.version.published` event publishes that version on chain, and an
 * `adapter.created` event registers that adapter (its metadata URI is the
 * API's adapter resource), and a written adapter price (the `ADAPTER#{id}` /
 * `PRICE` item core/payments keeps, kind `adapter-price`) is recorded in
 * AdapterRegistry. Other changes are ignored (undefined). Safe to call twice
 * for the same change.
 */
export async function routeChainSyncChange(deps: ChainSyncDeps, change: TableChange): Promise<ChainStatus | AdapterPriceSync | undefined> {
  const item = change.newImage;
  if ((change.eventName === "INSERT" || change.eventName === "MODIFY") && item?.kind === "adapter-price" && item.sk === "PRICE") {
    const { adapterId, perCall, perThousandOutputTokens, updatedAt } = item as { adapterId?: unknown; perCall?: unknown; perThousandOutputTokens?: unknown; updatedAt?: unknown };
    if (typeof adapterId !== "string" || typeof perCall !== "string" || typeof perThousandOutputTokens !== "string" || typeof updatedAt !== "string") return undefined;
    return syncAdapterPriceToChain(deps, { adapterId, perCall, perThousandOutputTokens, setAt: updatedAt });
  }
  if (change.eventName !== "INSERT") return undefined;
  const event = eventFromItem(change.newImage);
  if (event?.type === "datanet.version.published") {
    const { datanetId, version } = event.data as { datanetId?: unknown; version?: unknown };
    if (typeof datanetId !== "string" || typeof version !== "number") return undefined;
    return syncVersionByIdToChain(deps, datanetId, version);
  }
  if (event?.type === "adapter.created") {
    const { adapterId } = event.data as { adapterId?: unknown };
    if (typeof adapterId !== "string") return undefined;
    const adapter = await loadAdapter(deps, adapterId);
    if (!adapter) return undefined;
    return syncAdapterToChain(deps, adapterToRegister(adapter, deps.config.apiOrigin));
  }
  return undefined;
}
