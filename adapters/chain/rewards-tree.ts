import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { getAddress } from "ethers";

/** Leaf encoding of RewardsDistributor: `(address account, uint256 amount)`, double-hashed. */
export const REWARD_LEAF_ENCODING = ["address", "uint256"] as const;

export interface RewardsTree {
  root: string;
  /** Sum of all amounts: what the epoch must allocate. */
  total: bigint;
  /** Each account's amount and proof, by checksummed address. */
  claims: Map<string, { amount: bigint; proof: string[] }>;
}

/**
 * Builds an epoch's rewards tree. Amounts owed to the same account are added
 * up first, since the distributor lets each account claim once per epoch.
 */
export function buildRewardsTree(entries: Iterable<{ account: string; amount: bigint }>): RewardsTree {
  const owed = new Map<string, bigint>();
  for (const { account, amount } of entries) {
    if (amount < 0n) throw new Error(`negative reward for ${account}`);
    const a = getAddress(account);
    owed.set(a, (owed.get(a) ?? 0n) + amount);
  }
  const leaves = [...owed].filter(([, amount]) => amount > 0n).map(([a, amount]) => [a, amount] as [string, bigint]);
  if (leaves.length === 0) throw new Error("an epoch needs at least one reward");
  const tree = StandardMerkleTree.of(leaves, [...REWARD_LEAF_ENCODING]);
  const claims = new Map<string, { amount: bigint; proof: string[] }>();
  for (const [i, [account, amount]] of tree.entries()) claims.set(account, { amount, proof: tree.getProof(i) });
  return { root: tree.root, total: leaves.reduce((s, [, a]) => s + a, 0n), claims };
}
