import type { Caller } from "../account.ts";
import { loadReadableAdapter } from "../adapters/adapters.ts";
import { adapterKey } from "../adapters/keys.ts";
import type { CoreDeps } from "../deps.ts";
import { ForbiddenError } from "../errors.ts";
import type { Key, TableStore } from "../ports/tables.ts";
import { FREE, Price } from "./prices.ts";

/**
 * The price an adapter's owner sets (main table, beside the adapter:
 * `ADAPTER#{id}` / `PRICE`). The inference service reads it per call; the
 * main table's stream carries a change to chain sync, which records it in
 * AdapterRegistry. An adapter without one is free (any signed-in key).
 */
export const priceKey = (adapterId: string): Key => ({ ...adapterKey(adapterId), sk: "PRICE" });

export interface AdapterPrice extends Price {
  adapterId: string;
  updatedAt: string | null;
}

/** The adapter's price (free when never set). */
export async function readPrice(main: TableStore, adapterId: string): Promise<AdapterPrice> {
  const item = await main.get(priceKey(adapterId));
  if (!item) return { adapterId, ...FREE, updatedAt: null };
  return { adapterId, perCall: item.perCall as string, perThousandOutputTokens: item.perThousandOutputTokens as string, updatedAt: item.updatedAt as string };
}

/** The price of an adapter the caller may see. */
export async function getPrice(deps: Pick<CoreDeps, "tables">, caller: Caller, adapterId: string): Promise<AdapterPrice> {
  await loadReadableAdapter(deps, caller, adapterId);
  return readPrice(deps.tables.main, adapterId);
}

/** Sets an adapter's price; only its owner. */
export async function setPrice(deps: Pick<CoreDeps, "tables" | "clock">, caller: Caller, adapterId: string, input: Price): Promise<AdapterPrice> {
  const price = Price.parse(input);
  const adapter = await loadReadableAdapter(deps, caller, adapterId);
  if (adapter.owner.toLowerCase() !== caller.address.toLowerCase()) throw new ForbiddenError("Only the adapter's owner sets its price");
  const updatedAt = new Date(deps.clock.now()).toISOString();
  await deps.tables.main.put({ ...priceKey(adapterId), kind: "adapter-price", adapterId, owner: adapter.owner, fingerprint: adapter.fingerprint, ...price, updatedAt });
  return { adapterId, ...price, updatedAt };
}
