import type { Caller } from "../account.ts";
import { loadReadableAdapter } from "../adapters/adapters.ts";
import { priceKey, readPrice, type AdapterPrice } from "../adapters/price.ts";
import type { CoreDeps } from "../deps.ts";
import { ForbiddenError } from "../errors.ts";
import { Price } from "./prices.ts";

/**
 * Reading and setting an adapter's price. The price item and its reading live
 * in core/adapters/price.ts (the adapter view shows it); they are re-exported
 * here for the payment code. The inference service reads it per call; the
 * main table's stream carries a change to chain sync, which records it in
 * AdapterRegistry.
 */
export { priceKey, readPrice };
export { AdapterPrice } from "../adapters/price.ts";

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
