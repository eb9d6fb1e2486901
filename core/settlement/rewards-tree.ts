import { StandardMerkleTree } from "@openzeppelin/merkle-tree";

/** Leaf encoding of RewardsDistributor: `(address account, uint256 amount)`, OpenZeppelin StandardMerkleTree (double-hashed). */
export const REWARD_LEAF_ENCODING = ["address", "uint256"] as const;

export interface EpochTree {
  root: string;
  total: bigint;
  /** Each account's amount and the proof `RewardsDistributor.claim` accepts. */
  claims: Map<string, { amount: bigint; proof: string[] }>;
  /** StandardMerkleTree dump, stored so anyone can rebuild the proofs. */
  dump: unknown;
}

/** The epoch's tree over one leaf per account (amounts > 0), in address order so the root is deterministic. */
export function buildEpochTree(accounts: Map<string, bigint>): EpochTree {
  const leaves = [...accounts].filter(([, a]) => a > 0n).sort(([a], [b]) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1));
  if (leaves.length === 0) throw new Error("an epoch tree needs at least one reward");
  const tree = StandardMerkleTree.of(leaves.map(([a, amount]) => [a, amount.toString()]), [...REWARD_LEAF_ENCODING]);
  const claims = new Map<string, { amount: bigint; proof: string[] }>();
  for (const [i, [account, amount]] of tree.entries()) claims.set(account as string, { amount: BigInt(amount as string), proof: tree.getProof(i) });
  return { root: tree.root, total: leaves.reduce((s, [, a]) => s + a, 0n), claims, dump: tree.dump() };
}
