import type { Key } from "../ports/tables.ts";

/** Adapter items (main table): `pk ADAPTER#{id}`, `sk META`; on gsi1 `ADAPTERS` / `{createdAt}#{id}` (the public listing, newest first). */
export const adapterKey = (adapterId: string): Key => ({ pk: `ADAPTER#${adapterId}`, sk: "META" });
export const ADAPTERS_GSI_PK = "ADAPTERS";
