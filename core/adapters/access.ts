import type { Caller } from "../account.ts";
import { sameAddress } from "../datanets/access.ts";
import type { DatanetSchemaKind } from "../datanets/model.ts";
import type { Adapter } from "./model.ts";

/**
 * Whether the caller may see the adapter: one trained only on public data is
 * a public listing; one trained on any private Datanet version belongs to its
 * owner alone (list, read, download, serve), and to anyone else it does not
 * exist. A caller that is not signed in sees public adapters only.
 */
export function canReadAdapter(adapter: Pick<Adapter, "owner" | "visibility">, caller: Caller | undefined): boolean {
  return adapter.visibility === "public" || (caller !== undefined && sameAddress(adapter.owner, caller.address));
}

/** The template an adapter learned, from its sources' schemas: chat wins over instruction, instruction over text. */
export function promptTemplateOf(schemas: readonly DatanetSchemaKind[]): DatanetSchemaKind {
  if (schemas.includes("chat")) return "chat";
  if (schemas.includes("instruction")) return "instruction";
  return "text";
}
