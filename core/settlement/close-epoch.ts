import { distributorPlatformShare, splitFee, type Shares, type Weight } from "./split.ts";

/** One charged call of an epoch, as settlement sees it. */
export interface EpochCall {
  requestId: string;
  fee: bigint;
  owner: string;
  contributors: readonly Weight[];
}

export interface ClosedEpoch {
  /** Σ fees: what the epoch's redemption must have brought into the distributor. */
  fees: bigint;
  /** What `publishEpoch` sends the treasury directly (the distributor's floor of its share). */
  treasuryDirect: bigint;
  /** The platform's share by the per-call splits (treasuryDirect + its rounding leaf). */
  platform: bigint;
  /** Each account's amount in the rewards tree (addresses as given: pass them checksummed); adds up to fees − treasuryDirect. */
  accounts: Map<string, bigint>;
  calls: number;
}

/**
 * Closes an epoch: splits every call exactly, adds the parts up per account,
 * and reconciles the platform's per-call shares with what the distributor
 * pays the treasury on chain (the floor of its share of the total). Per-call
 * platform shares are rounded up, so they add up to at least that floor; the
 * difference becomes a leaf of the treasury, claimable like any other. Then
 * Σ leaves + treasuryDirect = fees to the unit, the tree's total is what the
 * distributor allocates, and no unit is stranded or overdrawn.
 */
export function closeEpoch(calls: Iterable<EpochCall>, shares: Shares, treasury: string): ClosedEpoch {
  const accounts = new Map<string, bigint>();
  let fees = 0n;
  let platform = 0n;
  let n = 0;
  const add = (account: string, amount: bigint) => {
    if (amount === 0n) return;
    accounts.set(account, (accounts.get(account) ?? 0n) + amount);
  };
  for (const call of calls) {
    const split = splitFee({ fee: call.fee, owner: call.owner, contributors: call.contributors, shares });
    fees += call.fee;
    platform += split.platform;
    for (const [account, amount] of split.accounts) add(account, amount);
    n++;
  }
  const treasuryDirect = distributorPlatformShare(fees, shares);
  if (platform < treasuryDirect) throw new Error(`invariant: per-call platform shares ${platform} below the distributor's ${treasuryDirect}`);
  add(treasury, platform - treasuryDirect);
  let leaves = 0n;
  for (const amount of accounts.values()) leaves += amount;
  if (leaves + treasuryDirect !== fees) throw new Error(`invariant: leaves ${leaves} + treasury ${treasuryDirect} != fees ${fees}`);
  return { fees, treasuryDirect, platform, accounts, calls: n };
}
