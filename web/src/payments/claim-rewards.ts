import { Contract, type Signer } from "ethers";
import type { Rewards } from "../../../core/payments/rewards.ts";

/** RewardsDistributor's claim (contracts/src/RewardsDistributor.sol). */
const DISTRIBUTOR_ABI = ["function claim(uint256 epoch, address account, uint256 amount, bytes32[] proof)"];

export type EpochReward = Rewards["epochs"][number];

/** A claim that reached the chain. */
export interface ClaimReceipt {
  hash: string;
  blockNumber: number;
  status: "confirmed" | "reverted";
}

/**
 * Claims one epoch's reward with the proof the API served: the distributor
 * checks it against the epoch's published root and pays `account`. Resolves
 * once the transaction is mined; `onSent` hears its hash as soon as it is sent.
 */
export async function claimEpoch(signer: Signer, distributor: string, account: string, reward: EpochReward, onSent?: (hash: string) => void): Promise<ClaimReceipt> {
  const contract = new Contract(distributor, DISTRIBUTOR_ABI, signer);
  const tx = (await contract.getFunction("claim")(reward.epoch, account, BigInt(reward.amount), reward.proof)) as { hash: string; wait(): Promise<{ blockNumber: number; status: number | null } | null> };
  onSent?.(tx.hash);
  const receipt = await tx.wait();
  return { hash: tx.hash, blockNumber: receipt?.blockNumber ?? 0, status: receipt?.status === 1 ? "confirmed" : "reverted" };
}
