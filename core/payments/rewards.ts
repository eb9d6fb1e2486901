import { z } from "zod";
import { AddressSchema } from "../account.ts";
import type { TableStore } from "../ports/tables.ts";
import { queryAll } from "../query-all.ts";
import { pad, SETTLEMENT_CURSOR } from "../settlement/keys.ts";
import { BaseUnits } from "./prices.ts";

export const EpochReward = z.object({
  period: z.number().int().meta({ description: "Settlement period (epoch window index)" }),
  epoch: z.number().int().meta({ description: "RewardsDistributor epoch number" }),
  amount: BaseUnits,
  root: z.string(),
  proof: z.array(z.string()).meta({ description: "Pass to RewardsDistributor.claim(epoch, account, amount, proof)" }),
  claimed: z.boolean().nullable().meta({ description: "Whether it was claimed on chain; null when the chain could not be asked" }),
});

export const Rewards = z
  .object({
    address: AddressSchema,
    epochs: z.array(EpochReward),
    totals: z.object({
      earned: BaseUnits.meta({ description: "Published in epochs" }),
      claimed: BaseUnits,
      claimable: BaseUnits.meta({ description: "Published and not claimed yet" }),
      pending: BaseUnits.meta({ description: "Earned by calls whose period is not settled yet (an estimate by the current split)" }),
    }),
  })
  .meta({ id: "Rewards" });
export type Rewards = z.infer<typeof Rewards>;

/** An account's earnings: each published epoch with its proof and claim status, and what is pending. */
export async function getRewards(usage: TableStore, address: string, isClaimed?: (epoch: number, account: string) => Promise<boolean>): Promise<Rewards> {
  const epochs: Rewards["epochs"] = [];
  let earned = 0n;
  let claimed = 0n;
  for await (const item of queryAll(usage, { pk: `REWARD#${address}`, skPrefix: "P#" })) {
    let isDone: boolean | null = null;
    try {
      isDone = isClaimed ? await isClaimed(item.epoch as number, address) : null;
    } catch {
      isDone = null;
    }
    const amount = BigInt(item.amount as string);
    earned += amount;
    if (isDone) claimed += amount;
    epochs.push({ period: item.period as number, epoch: item.epoch as number, amount: amount.toString(), root: item.root as string, proof: item.proof as string[], claimed: isDone });
  }
  const cursor = await usage.get(SETTLEMENT_CURSOR);
  const next = (cursor?.next as number | undefined) ?? 0;
  let pending = 0n;
  for await (const item of queryAll(usage, { pk: `EARN#${address}`, skBetween: [`P#${pad(next)}`, "P#~"] })) pending += BigInt(item.amount as string);
  return { address, epochs, totals: { earned: earned.toString(), claimed: claimed.toString(), claimable: (earned - claimed).toString(), pending: pending.toString() } };
}
