import { z } from "zod";
import type { Key, TableStore } from "../ports/tables.ts";
import { FREE, Price } from "../payments/prices.ts";
import { adapterKey } from "./keys.ts";

/**
 * The price an adapter's owner sets, as the adapter's views show it (main
 * table, beside the adapter: `ADAPTER#{id}` / `PRICE`). It lives here, not in
 * core/payments, because the adapter view carries it and core/payments
 * already depends on core/adapters (setting a price checks the adapter's
 * owner): reading it from there would be an import cycle. An adapter without
 * one is free (any signed-in key).
 */
export const priceKey = (adapterId: string): Key => ({ ...adapterKey(adapterId), sk: "PRICE" });

/** An adapter's price with when it was last set (null: never, so free). */
export const AdapterPrice = Price.extend({
  adapterId: z.string(),
  updatedAt: z.string().nullable().meta({ description: "When the owner last set it; null when never (the adapter is free)" }),
}).meta({ id: "AdapterPrice" });
export type AdapterPrice = z.infer<typeof AdapterPrice>;

/** The adapter's price (free when never set). */
export async function readPrice(main: TableStore, adapterId: string): Promise<AdapterPrice> {
  const item = await main.get(priceKey(adapterId));
  if (!item) return { adapterId, ...FREE, updatedAt: null };
  return { adapterId, perCall: item.perCall as string, perThousandOutputTokens: item.perThousandOutputTokens as string, updatedAt: (item.updatedAt as string | undefined) ?? null };
}
