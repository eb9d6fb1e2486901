/** Basis points all attribution weights add up to. */
export const TOTAL_BPS = 10_000;

/**
 * Splits 10 000 basis points in proportion to `amounts` by the largest
 * remainder method: each share is floored, and the points left over go one
 * each to the largest fractional parts (ties to the earlier entry), so the
 * result always adds up to exactly 10 000. Throws when the amounts sum to 0.
 * Example: splitBps([1, 1, 1]) → [3334, 3333, 3333].
 */
export function splitBps(amounts: readonly number[], total = TOTAL_BPS): number[] {
  const sum = amounts.reduce((s, a) => s + a, 0);
  if (!(sum > 0)) throw new RangeError("cannot split attribution over zero tokens");
  if (amounts.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new RangeError("token counts must be non-negative integers");
  // Integer arithmetic (BigInt) so the floors and remainders are exact.
  const big = BigInt(sum);
  const exact = amounts.map((a) => BigInt(a) * BigInt(total));
  const shares = exact.map((e) => Number(e / big));
  const left = total - shares.reduce((s, x) => s + x, 0);
  const order = exact
    .map((e, i) => ({ i, rem: e % big }))
    .sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (let k = 0; k < left; k++) shares[order[k]!.i]! += 1;
  return shares;
}
