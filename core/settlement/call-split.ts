import { z } from "zod";
import { AddressSchema } from "../account.ts";
import type { TableStore } from "../ports/tables.ts";
import { BaseUnits } from "../payments/prices.ts";
import type { UsageRecord } from "../payments/usage.ts";
import { callRefKey } from "./keys.ts";
import { getSettlement } from "./settle-period.ts";
import { splitFeeParts, type Shares } from "./split.ts";

const SharesSchema = z.object({ contributorsBps: z.number().int(), ownersBps: z.number().int(), platformBps: z.number().int() });

/** Where a call's settlement stands. */
export const CallSettlement = z
  .object({
    status: z.enum(["open", "settling", "settled", "defaulted", "not-charged"]).meta({
      description: "open: waiting for its period to end (or for its final attribution); settling: its period is being redeemed and published; settled: in a published epoch; defaulted: its channel could not be redeemed, so it pays nobody; not-charged: nothing to split",
    }),
    period: z.number().int().nullable(),
    epoch: z.number().int().nullable(),
  })
  .meta({ id: "UsageSettlement" });
export type CallSettlement = z.infer<typeof CallSettlement>;

/** How one call's fee is split, party by party, in base units (the parts add up to the fee). */
export const FeeSplit = z
  .object({
    basis: z.enum(["settled", "estimate"]).meta({ description: "settled: by the shares its epoch was published with; estimate: by the shares at assignment, until its epoch is published" }),
    fee: BaseUnits,
    shares: SharesSchema,
    /** The attribution method the contributors' share was split by. */
    method: z.string(),
    platform: BaseUnits,
    owner: z.object({ address: AddressSchema, amount: BaseUnits }),
    contributors: z.array(z.object({ address: AddressSchema, weightBps: z.number().int(), amount: BaseUnits })),
  })
  .meta({ id: "FeeSplit" });
export type FeeSplit = z.infer<typeof FeeSplit>;

/**
 * A charged call's settlement and fee split, as settlement computes it: by
 * the call's final attribution as it joined its period (its CALLREF entry)
 * and the distributor's shares (those of the published epoch once settled).
 * A call not yet assigned to a period has no split yet.
 */
export async function callSettlement(usage: TableStore, record: UsageRecord): Promise<{ settlement: CallSettlement; split: FeeSplit | null }> {
  if (record.charged === "0" || !record.owner) return { settlement: { status: "not-charged", period: null, epoch: null }, split: null };
  const ref = await usage.get(callRefKey(record.requestId));
  if (!ref) return { settlement: { status: "open", period: null, epoch: null }, split: null };
  const period = ref.period as number;
  const state = await getSettlement(usage, period);
  const channelId = ref.channelId as string;
  if (state?.phase === "done" && (state.excluded ?? []).includes(channelId)) return { settlement: { status: "defaulted", period, epoch: state.epoch ?? null }, split: null };
  const settled = state?.phase === "done" && state.shares !== undefined;
  const shares = (settled ? state.shares : ref.shares) as Shares | undefined;
  const settlement: CallSettlement = { status: !state ? "open" : state.phase === "done" ? "settled" : "settling", period, epoch: state?.epoch ?? null };
  if (!shares) return { settlement, split: null }; // assigned before shares were kept with the call
  const contributors = ref.contributors as { address: string; weightBps: number }[];
  const parts = splitFeeParts({ fee: BigInt(ref.fee as string), owner: ref.owner as string, contributors, shares });
  return {
    settlement,
    split: {
      basis: settled ? "settled" : "estimate",
      fee: ref.fee as string,
      shares,
      method: (ref.method as string | undefined) ?? record.attribution.method,
      platform: parts.platform.toString(),
      owner: { address: parts.owner.address, amount: parts.owner.amount.toString() },
      contributors: parts.contributors.map((c) => ({ address: c.address, weightBps: c.weightBps, amount: c.amount.toString() })),
    },
  };
}
