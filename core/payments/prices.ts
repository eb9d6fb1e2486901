import { z } from "zod";

/**
 * Prices of a served model, in the payment token's base units (e.g. 1 tUSD =
 * 1 000 000 units). A call costs `perCall` plus `perThousandOutputTokens` for
 * every thousand completion tokens really generated, rounded up to the unit;
 * its quote is the most it can cost (`max_tokens` generated).
 */

/** A non-negative integer in base units, as a decimal string (JSON numbers lose precision past 2^53). */
export const BaseUnits = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,37})$/, "must be a non-negative decimal integer in base units, e.g. \"1500\"")
  .meta({ id: "BaseUnits", example: "1500" });

export const Price = z
  .strictObject({
    perCall: BaseUnits.meta({ description: "Charged once per call" }),
    perThousandOutputTokens: BaseUnits.meta({ description: "Charged per 1 000 completion tokens generated (pro rata, rounded up)" }),
  })
  .meta({ id: "Price" });
export type Price = z.infer<typeof Price>;

export const FREE: Price = { perCall: "0", perThousandOutputTokens: "0" };

/** Just the price's two amounts (a stored adapter price carries its id and time too, which a usage record's strict schema refuses). */
export const priceOnly = (p: Price): Price => ({ perCall: p.perCall, perThousandOutputTokens: p.perThousandOutputTokens });

export function isFree(price: Price): boolean {
  return price.perCall === "0" && price.perThousandOutputTokens === "0";
}

/** What a call that generated `completionTokens` costs. */
export function callCost(price: Price, completionTokens: number): bigint {
  if (!Number.isSafeInteger(completionTokens) || completionTokens < 0) throw new RangeError(`completionTokens must be a non-negative integer, got ${completionTokens}`);
  const perK = BigInt(price.perThousandOutputTokens);
  // Ceiling division: a call that generated any token pays at least one unit for it when the token price is not 0.
  const tokens = (BigInt(completionTokens) * perK + 999n) / 1000n;
  return BigInt(price.perCall) + tokens;
}

/** The most a call allowed to generate `maxTokens` can cost: its quote. */
export function maxCallCost(price: Price, maxTokens: number): bigint {
  return callCost(price, maxTokens);
}
