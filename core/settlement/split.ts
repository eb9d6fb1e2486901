/**
 * The exact split of one call's fee in base units. The platform's share is
 * rounded up (at most one unit per call; see `reconcilePlatform` for why), the
 * rest goes to the adapter's owner and its contributors by largest remainder,
 * so the parts always add up to the fee to the unit.
 */

/** Basis points of each party, adding up to 10 000 (RewardsDistributor.Shares). */
export interface Shares {
  contributorsBps: number;
  ownersBps: number;
  platformBps: number;
}

/** A contributor and its attribution weight; weights of one call add up to 10 000. */
export interface Weight {
  address: string;
  weightBps: number;
}

export interface SplitInput {
  fee: bigint;
  owner: string;
  /** This call's final attribution (its own, or the adapter's static weights when it has none; see final-attribution.ts). */
  contributors: readonly Weight[];
  shares: Shares;
}

export interface Split {
  platform: bigint;
  /** What each account gets, owner included (lowercase-insensitive keys are the caller's business: pass checksummed addresses). */
  accounts: Map<string, bigint>;
}

const BPS = 10_000n;

/** One call's split party by party: what the owner and each contributor (in the attribution's order) get. */
export interface SplitParts {
  platform: bigint;
  owner: { address: string; amount: bigint };
  contributors: { address: string; weightBps: number; amount: bigint }[];
}

/** Splits one fee. Throws on shares or weights that do not add up to 10 000. */
export function splitFee(input: SplitInput): Split {
  const parts = splitFeeParts(input);
  const accounts = new Map<string, bigint>();
  for (const p of [parts.owner, ...parts.contributors]) if (p.amount > 0n) accounts.set(p.address, (accounts.get(p.address) ?? 0n) + p.amount);
  return { platform: parts.platform, accounts };
}

/** `splitFee`, party by party (an owner who is also a contributor appears twice, once per role). */
export function splitFeeParts(input: SplitInput): SplitParts {
  const { fee, owner, contributors, shares } = input;
  if (fee < 0n) throw new RangeError(`fee must not be negative, got ${fee}`);
  if (shares.contributorsBps + shares.ownersBps + shares.platformBps !== 10_000) throw new RangeError("shares must add up to 10 000 bps");
  for (const s of [shares.contributorsBps, shares.ownersBps, shares.platformBps]) if (!Number.isInteger(s) || s < 0) throw new RangeError("shares must be non-negative integers");
  const weightSum = contributors.reduce((s, c) => s + c.weightBps, 0);
  if (contributors.length > 0 && weightSum !== 10_000) throw new RangeError(`contributor weights add up to ${weightSum}, not 10 000`);
  for (const c of contributors) if (!Number.isInteger(c.weightBps) || c.weightBps < 0) throw new RangeError(`bad weight of ${c.address}`);

  // Rounded up, so that Σ per-call platform ≥ the distributor's floor over the epoch's total.
  const platform = ceilDiv(fee * BigInt(shares.platformBps), BPS);
  const rest = fee - platform;

  // Quotas over a common denominator of 10^8: owner ownersBps × 10^4, contributor contributorsBps × weightBps.
  // An adapter without contributors leaves their share to its owner.
  const parties: { account: string; quota: bigint }[] = [];
  const contributorsBps = contributors.length > 0 ? shares.contributorsBps : 0;
  parties.push({ account: owner, quota: BigInt(shares.ownersBps + (contributors.length > 0 ? 0 : shares.contributorsBps)) * BPS });
  for (const c of contributors) parties.push({ account: c.address, quota: BigInt(contributorsBps) * BigInt(c.weightBps) });
  const denominator = parties.reduce((s, p) => s + p.quota, 0n);

  const result = (amounts: bigint[]): SplitParts => ({
    platform,
    owner: { address: owner, amount: amounts[0] ?? 0n },
    contributors: contributors.map((c, i) => ({ address: c.address, weightBps: c.weightBps, amount: amounts[i + 1] ?? 0n })),
  });
  if (denominator === 0n) {
    // 100 % platform: nothing else to hand out (rest is 0 then, since platform = fee).
    if (rest !== 0n) throw new Error("invariant: platform takes all but a remainder is left");
    return result([]);
  }
  const shaped = parties.map((p, i) => {
    const exact = rest * p.quota;
    return { i, account: p.account, floor: exact / denominator, remainder: exact % denominator };
  });
  let left = rest - shaped.reduce((s, p) => s + p.floor, 0n);
  // Largest remainder first; ties go to the earlier party (owner, then contributors in the order given), so the split is deterministic.
  const order = [...shaped].sort((a, b) => (a.remainder === b.remainder ? a.i - b.i : a.remainder > b.remainder ? -1 : 1));
  for (const p of order) {
    if (left === 0n) break;
    p.floor += 1n;
    left -= 1n;
  }
  if (left !== 0n) throw new Error("invariant: largest remainder left units undistributed");
  return result(shaped.map((p) => p.floor));
}

/** What RewardsDistributor.splitFees sends the treasury for an epoch's `fees`: the floor of the platform's share. */
export function distributorPlatformShare(fees: bigint, shares: Shares): bigint {
  return (fees * BigInt(shares.platformBps)) / BPS;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}
