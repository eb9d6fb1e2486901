import { describe, expect, it } from "vitest";
import { closeEpoch, type EpochCall } from "./close-epoch.ts";
import { distributorPlatformShare, splitFee, type Shares } from "./split.ts";

const SHARES: Shares = { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 };
const OWNER = "0x00000000000000000000000000000000000000a1";
const TREASURY = "0x00000000000000000000000000000000000000f1";
const addr = (i: number) => `0x${(0xc000 + i).toString(16).padStart(40, "0")}`;

function sum(m: Map<string, bigint>): bigint {
  let s = 0n;
  for (const v of m.values()) s += v;
  return s;
}

describe("splitFee", () => {
  it("splits a round fee by the shares and the weights", () => {
    const s = splitFee({ fee: 10_000n, owner: OWNER, contributors: [{ address: addr(1), weightBps: 7500 }, { address: addr(2), weightBps: 2500 }], shares: SHARES });
    expect(s.platform).toBe(1000n);
    expect(s.accounts.get(OWNER)).toBe(2000n);
    expect(s.accounts.get(addr(1))).toBe(5250n);
    expect(s.accounts.get(addr(2))).toBe(1750n);
  });

  it("hands out the rounding units by largest remainder, to the unit", () => {
    // 7 units: platform ceil(0.7) = 1, rest 6 over owner 2000 : c1 4667 : c2 2333 (of 9000) → 1.333, 3.111, 1.555.
    const s = splitFee({ fee: 7n, owner: OWNER, contributors: [{ address: addr(1), weightBps: 6667 }, { address: addr(2), weightBps: 3333 }], shares: SHARES });
    expect(s.platform).toBe(1n);
    expect(s.accounts.get(OWNER)).toBe(1n);
    expect(s.accounts.get(addr(1))).toBe(3n);
    expect(s.accounts.get(addr(2))).toBe(2n);
    expect(s.platform + sum(s.accounts)).toBe(7n);
  });

  it("gives the contributors' share to the owner when the adapter has none", () => {
    const s = splitFee({ fee: 1000n, owner: OWNER, contributors: [], shares: SHARES });
    expect(s.platform).toBe(100n);
    expect(s.accounts.get(OWNER)).toBe(900n);
  });

  it("adds up the parts of an owner who is also a contributor", () => {
    const s = splitFee({ fee: 1000n, owner: OWNER, contributors: [{ address: OWNER, weightBps: 10_000 }], shares: SHARES });
    expect(s.accounts.get(OWNER)).toBe(900n);
  });

  it("refuses weights or shares that do not add up to 10 000, and negative fees", () => {
    expect(() => splitFee({ fee: 1n, owner: OWNER, contributors: [{ address: addr(1), weightBps: 9999 }], shares: SHARES })).toThrow(/9999/);
    expect(() => splitFee({ fee: 1n, owner: OWNER, contributors: [], shares: { ...SHARES, platformBps: 1001 } })).toThrow(/10 000/);
    expect(() => splitFee({ fee: -1n, owner: OWNER, contributors: [], shares: SHARES })).toThrow(/negative/);
  });

  it("splits a zero fee into nothing", () => {
    const s = splitFee({ fee: 0n, owner: OWNER, contributors: [{ address: addr(1), weightBps: 10_000 }], shares: SHARES });
    expect(s.platform).toBe(0n);
    expect(s.accounts.size).toBe(0);
  });
});

describe("closeEpoch", () => {
  it("conserves every unit over 10,000 simulated calls: Σ payouts + platform == Σ fees", () => {
    // Prepare: a deterministic generator of odd fees, owners and weight vectors.
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const calls: EpochCall[] = [];
    let expectedFees = 0n;
    for (let i = 0; i < 10_000; i++) {
      const k = 1 + rnd(5);
      const raw = Array.from({ length: k }, () => 1 + rnd(1000));
      const total = raw.reduce((a, b) => a + b, 0);
      const weights = raw.map((r) => Math.floor((r * 10_000) / total));
      weights[0]! += 10_000 - weights.reduce((a, b) => a + b, 0);
      const fee = BigInt(rnd(1_000_000)) * BigInt(1 + rnd(3));
      expectedFees += fee;
      calls.push({ requestId: `r${i}`, fee, owner: addr(100 + rnd(20)), contributors: weights.map((w, j) => ({ address: addr(rnd(300) + j * 300), weightBps: w })) });
    }
    // Act
    const epoch = closeEpoch(calls, SHARES, TREASURY);
    // Assess: leaves + what the distributor sends the treasury = fees; the treasury's total = Σ per-call platform shares.
    expect(epoch.fees).toBe(expectedFees);
    expect(epoch.treasuryDirect).toBe(distributorPlatformShare(expectedFees, SHARES));
    expect(sum(epoch.accounts) + epoch.treasuryDirect).toBe(expectedFees);
    const perCallPlatform = calls.reduce((s, c) => s + splitFee({ fee: c.fee, owner: c.owner, contributors: c.contributors, shares: SHARES }).platform, 0n);
    expect(epoch.platform).toBe(perCallPlatform);
    expect((epoch.accounts.get(TREASURY) ?? 0n) + epoch.treasuryDirect).toBe(perCallPlatform);
    expect(epoch.calls).toBe(10_000);
  });

  it("conserves every unit over 10,000 calls each split by its own attribution (static, span, combined, none, owner-contributor)", () => {
    // Prepare: an adapter's static weights over 40 contributors, and calls attributed in the ways a call can be.
    let seed = 777;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const weightsOver = (addresses: string[]) => {
      const raw = addresses.map(() => 1 + rnd(1000));
      const total = raw.reduce((a, b) => a + b, 0);
      const w = raw.map((r) => Math.floor((r * 10_000) / total));
      w[0]! += 10_000 - w.reduce((a, b) => a + b, 0);
      return addresses.map((address, i) => ({ address, weightBps: w[i]! })).sort((a, b) => b.weightBps - a.weightBps);
    };
    const staticWeights = weightsOver(Array.from({ length: 40 }, (_, i) => addr(i)));
    const pick = (k: number) => [...new Set(Array.from({ length: k }, () => addr(rnd(60))))];
    const kinds = ["static", "span", "combined", "none", "single", "owner-too"] as const;
    const calls: (EpochCall & { kind: (typeof kinds)[number] })[] = [];
    let expectedFees = 0n;
    for (let i = 0; i < 10_000; i++) {
      const kind = kinds[i % kinds.length]!;
      const owner = addr(100 + rnd(5));
      const contributors =
        kind === "static" ? staticWeights
        : kind === "span" ? weightsOver(pick(1 + rnd(3)))
        : kind === "combined" ? weightsOver(pick(4 + rnd(7)))
        : kind === "none" ? []
        : kind === "single" ? [{ address: addr(rnd(60)), weightBps: 10_000 }]
        : weightsOver([owner, ...pick(2)]);
      // Fees from 0 and 1 unit (every part rounds) to a few million.
      const fee = rnd(10) === 0 ? BigInt(rnd(3)) : BigInt(rnd(3_000_000));
      expectedFees += fee;
      calls.push({ requestId: `r${i}`, fee, owner, contributors, kind });
    }
    // Act
    const epoch = closeEpoch(calls, SHARES, TREASURY);
    // Assess: the epoch conserves every unit, and each account gets exactly the sum of its per-call parts…
    expect(new Set(calls.map((c) => c.kind)).size).toBe(kinds.length);
    expect(epoch.fees).toBe(expectedFees);
    expect(sum(epoch.accounts) + epoch.treasuryDirect).toBe(expectedFees);
    const perAccount = new Map<string, bigint>();
    let platform = 0n;
    const off: string[] = []; // calls whose parts break a rule (collected: 10,000 expect calls would take seconds)
    for (const c of calls) {
      const split = splitFee({ fee: c.fee, owner: c.owner, contributors: c.contributors, shares: SHARES });
      // …each call's parts add up to its fee, and each contributor's part is its own weight's exact share, floored or ceiled.
      if (split.platform + sum(split.accounts) !== c.fee) off.push(`${c.requestId}: parts do not add up`);
      const rest = c.fee - split.platform;
      const contributorsBps = BigInt(c.contributors.length > 0 ? SHARES.contributorsBps : 0);
      for (const w of c.contributors) {
        if (w.address === c.owner) continue;
        const exactTimes = rest * contributorsBps * BigInt(w.weightBps); // × 10^4 (weights) × (10^4 − platform) (shares)
        const denominator = BigInt(10_000 - SHARES.platformBps) * 10_000n;
        const got = split.accounts.get(w.address) ?? 0n;
        if (got !== exactTimes / denominator && got !== exactTimes / denominator + 1n) off.push(`${c.requestId}: ${w.address} got ${got}`);
      }
      platform += split.platform;
      for (const [a, v] of split.accounts) perAccount.set(a, (perAccount.get(a) ?? 0n) + v);
    }
    expect(off).toEqual([]);
    perAccount.set(TREASURY, (perAccount.get(TREASURY) ?? 0n) + platform - epoch.treasuryDirect);
    for (const [a, v] of perAccount) if (v > 0n) expect(epoch.accounts.get(a)).toBe(v);
    expect(epoch.accounts.size).toBe([...perAccount.values()].filter((v) => v > 0n).length);
  });
});
