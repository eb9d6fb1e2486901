import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { ForbiddenError, NotFoundError } from "../errors.ts";
import type { Item } from "../ports/tables.ts";
import { datanetKey } from "./keys.ts";

/** Addresses compare case-insensitively (checksum casing is presentation). */
export const sameAddress = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Whether the caller may see the Datanet: public ones to all, private ones to their owner. */
export function canSee(item: Item, caller: Caller): boolean {
  return item.visibility === "public" || sameAddress(item.owner as string, caller.address);
}

/**
 * The Datanet item, when the caller may see it. A private Datanet of another
 * account is reported as not found, so its existence does not leak.
 */
export async function loadVisibleDatanet(deps: CoreDeps, caller: Caller, datanetId: string): Promise<Item> {
  const item = await deps.tables.main.get(datanetKey(datanetId));
  if (!item || !canSee(item, caller)) throw new NotFoundError("Datanet");
  return item;
}

/** The Datanet item, when the caller owns it (ForbiddenError when only visible). */
export async function loadOwnedDatanet(deps: CoreDeps, caller: Caller, datanetId: string, action: string): Promise<Item> {
  const item = await loadVisibleDatanet(deps, caller, datanetId);
  if (!sameAddress(item.owner as string, caller.address)) throw new ForbiddenError(`Only the Datanet's owner may ${action}`);
  return item;
}
