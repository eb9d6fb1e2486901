import type { Caller } from "../account.ts";
import { getAdapterChainStatus } from "../chain/adapters.ts";
import type { AdapterToRegister } from "../chain/adapters.ts";
import { sameAddress } from "../datanets/access.ts";
import type { Paged } from "../datanets/model.ts";
import { pageLimit, queryWithClientCursor } from "../datanets/paging.ts";
import type { CoreDeps } from "../deps.ts";
import { NotFoundError } from "../errors.ts";
import type { Item } from "../ports/tables.ts";
import { canReadAdapter } from "./access.ts";
import { ADAPTERS_GSI_PK, adapterKey } from "./keys.ts";
import { Adapter, type AdapterView } from "./model.ts";
import { readPrice } from "./price.ts";

/** The table item of an adapter (written by finalize in the same transaction as the job's success). */
export function adapterItem(adapter: Adapter): Item {
  return { ...adapterKey(adapter.id), gsi1pk: ADAPTERS_GSI_PK, gsi1sk: `${adapter.createdAt}#${adapter.id}`, ...adapter };
}

/** The public shape of an adapter item (key and index attributes stay inside). */
export function adapterFromItem(item: Item): Adapter {
  const { pk: _pk, sk: _sk, gsi1pk: _g, gsi1sk: _s, ...rest } = item;
  // Adapters recorded before these fields existed: owner-only (the safe reading) and the instruction template.
  return { visibility: "private", promptTemplate: "instruction", ...rest } as Adapter;
}

/** An adapter's stored record, or undefined. */
export async function loadAdapter(deps: Pick<CoreDeps, "tables">, adapterId: string): Promise<Adapter | undefined> {
  const item = await deps.tables.main.get(adapterKey(adapterId));
  return item ? adapterFromItem(item) : undefined;
}

/** The adapter, when the caller may see it; NotFoundError otherwise (a private adapter of another account does not leak). */
export async function loadReadableAdapter(deps: Pick<CoreDeps, "tables">, caller: Caller | undefined, adapterId: string): Promise<Adapter> {
  const adapter = await loadAdapter(deps, adapterId);
  if (!adapter || !canReadAdapter(adapter, caller)) throw new NotFoundError("Adapter");
  return adapter;
}

/** One adapter the caller may see, with its chain status. */
export async function getAdapter(deps: CoreDeps, caller: Caller, adapterId: string): Promise<AdapterView> {
  return withChain(deps, await loadReadableAdapter(deps, caller, adapterId));
}

export interface ListAdaptersInput {
  /** Only adapters of this owner. */
  owner?: string;
  /** Only adapters on this base model. */
  baseModel?: string;
  cursor?: string;
  limit?: number;
}

const SCAN_BUDGET = 2000;

/** Every adapter the caller may see (public ones and their own), newest first, with its chain status; optionally one owner's or one base model's. */
export async function listAdapters(deps: CoreDeps, caller: Caller, input: ListAdaptersInput = {}): Promise<Paged<AdapterView>> {
  const limit = pageLimit(input.limit, 20, 100);
  const matches = (item: Item) =>
    canReadAdapter(adapterFromItem(item), caller) &&
    (!input.owner || sameAddress(item.owner as string, input.owner)) && (!input.baseModel || item.baseModel === input.baseModel);
  const found: Adapter[] = [];
  let cursor = input.cursor;
  let scanned = 0;
  do {
    const page = await queryWithClientCursor(deps.tables.main, {
      pk: ADAPTERS_GSI_PK,
      index: "gsi1",
      reverse: true,
      limit: Math.min(limit - found.length, SCAN_BUDGET - scanned),
      ...(cursor ? { cursor } : {}),
    });
    scanned += page.items.length;
    for (const item of page.items) if (matches(item)) found.push(adapterFromItem(item));
    cursor = page.cursor;
  } while (cursor && found.length < limit && scanned < SCAN_BUDGET);
  return { items: await Promise.all(found.map((a) => withChain(deps, a))), ...(cursor ? { nextCursor: cursor } : {}) };
}

/** What chain sync registers for an adapter; its metadata URI is the API's adapter resource. */
export function adapterToRegister(adapter: Adapter, apiOrigin: string): AdapterToRegister {
  return {
    adapterId: adapter.id,
    owner: adapter.owner,
    baseModelHash: adapter.baseModelHash,
    weightsHash: adapter.weightsHash,
    trainingConfigHash: adapter.trainingConfigHash,
    sources: adapter.datanets.map((d) => ({ datanetId: d.id, version: d.version, root: d.root, weightBps: d.weightBps })),
    pricePerCall: adapter.pricePerCall,
    // A private adapter goes on chain as hashes only: no URI names it.
    uri: adapter.visibility === "public" ? `${apiOrigin.replace(/\/$/, "")}/v1/adapters/${adapter.id}` : "",
  };
}

async function withChain(deps: Pick<CoreDeps, "tables">, adapter: Adapter): Promise<AdapterView> {
  const [{ fingerprint: _f, ...chain }, price] = await Promise.all([getAdapterChainStatus(deps, adapter.id), readPrice(deps.tables.main, adapter.id)]);
  return { ...adapter, chain, price };
}
