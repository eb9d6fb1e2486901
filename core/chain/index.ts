export type * from "./chain.ts";
export * from "./errors.ts";
export * from "./model.ts";
export { syncRecord, LEASE_MS, type ChainSyncDeps } from "./sync-record.ts";
export { syncVersionToChain, syncVersionByIdToChain, getVersionChainStatus } from "./datanet-versions.ts";
export { syncAdapterToChain, getAdapterChainStatus, AdapterToRegister } from "./adapters.ts";
export { routeChainSyncChange, type TableChange } from "./route-change.ts";
export { syncAdapterPriceToChain, AdapterPriceToSync, type AdapterPriceSync } from "./adapter-price.ts";
