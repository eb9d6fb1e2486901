import { z } from "zod";
import { AddressSchema, type Address } from "../account.ts";
import { AttributionParameters } from "../attribution/model.ts";
import { ForbiddenError, NotFoundError } from "../errors.ts";
import type { Item, TableStore } from "../ports/tables.ts";
import { VoucherJson } from "./channel.ts";
import { ownerUsageIndex, payerUsageKey, usageKey } from "./keys.ts";
import { BaseUnits, Price } from "./prices.ts";

/** One inference call, recorded once (idempotent by request id) whatever it cost. */
export const UsageRecord = z
  .object({
    requestId: z.string(),
    /** The model the call named: an adapter id, or a base model id. */
    adapterId: z.string(),
    baseModel: z.string(),
    /** The adapter's owner (paid its share); null for a base model. */
    owner: AddressSchema.nullable(),
    /** Who paid: the voucher's payer, or the signed-in caller of a free call. */
    payer: AddressSchema,
    channelId: z.string().nullable(),
    promptTokens: z.number().int(),
    completionTokens: z.number().int(),
    finishReason: z.enum(["stop", "length", "cancelled", "error"]),
    price: Price,
    /** What the call cost and was charged, base units. */
    charged: BaseUnits,
    /** The most it could have cost (the quote), for paid calls. */
    maxCost: BaseUnits.nullable(),
    /** Cumulative charged on the channel after this call: what settlement redeems up to. */
    cumulativeCharged: BaseUnits.nullable(),
    /** Order of charges on the channel. */
    seq: z.number().int().nullable(),
    /** The voucher that authorised the charge. */
    voucher: VoucherJson.nullable(),
    /**
     * The attribution the contributors' share of the fee is split by: the call's own (span at
     * response time; replaced by the combined span + gradient one when the asynchronous method
     * has run, before the call joins a settlement period), or the adapter's static weights.
     * `status` "pending": the asynchronous method has yet to run (absent: final, as in records
     * written before it existed).
     */
    attribution: z.object({
      method: z.string(),
      /** Why a call fell back to static weights (or why the asynchronous method did not apply). */
      reason: z.string().optional(),
      status: z.enum(["pending", "final"]).optional(),
      contributors: z.array(z.object({ address: AddressSchema, weightBps: z.number().int() })),
      datanets: z.array(z.object({ id: z.string(), version: z.number().int(), weightBps: z.number().int() })).optional(),
      records: z.array(z.object({ contributionId: z.string(), datanetId: z.string(), version: z.number().int(), contributor: z.string(), score: z.number() })).optional(),
      /** The settings a scored attribution was computed with, to recompute it after a default changed (absent: static, or recorded before they were kept). */
      parameters: AttributionParameters.optional(),
    }),
    /** When the final attribution was written over the pending one (absent until then, and for calls that never had one pending). */
    attributedAt: z.string().optional(),
    /** Settlement period (epoch window index: floor(createdAt / epoch length)). */
    period: z.number().int(),
    createdAt: z.string(),
  })
  .meta({ id: "UsageRecord" });
export type UsageRecord = z.infer<typeof UsageRecord>;

/** The writes that record `r`: the record itself (once: notExists) and the payer's copy. */
export function usageWrites(r: UsageRecord) {
  const record: Item = { ...usageKey(r.requestId), ...(r.owner ? ownerUsageIndex(r.owner, r.adapterId, r.createdAt, r.requestId) : {}), kind: "usage", ...r };
  const copy: Item = { ...payerUsageKey(r.payer, r.createdAt, r.requestId), kind: "usage-copy", ...r };
  return [{ put: record, condition: { notExists: true } as const }, { put: copy }];
}

export function usageFromItem(item: Item): UsageRecord {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, kind: _k, ...rest } = item;
  return rest as unknown as UsageRecord;
}

export async function findUsage(usage: TableStore, requestId: string): Promise<UsageRecord | undefined> {
  const item = await usage.get(usageKey(requestId));
  return item ? usageFromItem(item) : undefined;
}

/** One record, for its payer or the adapter's owner. */
export async function getUsage(usage: TableStore, caller: Address, requestId: string): Promise<UsageRecord> {
  const r = await findUsage(usage, requestId);
  if (!r) throw new NotFoundError(`Usage record ${requestId}`);
  const mine = r.payer.toLowerCase() === caller.toLowerCase() || (r.owner !== null && r.owner.toLowerCase() === caller.toLowerCase());
  if (!mine) throw new NotFoundError(`Usage record ${requestId}`);
  return r;
}

export interface ListUsageInput {
  adapter?: string | undefined;
  payer?: string | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}

/**
 * Usage records the caller may see: as a payer (`payer` = the caller, newest
 * first) or as the owner of `adapter` (its calls, newest first). Without
 * either, the caller's own calls as a payer.
 */
export async function listUsage(usage: TableStore, caller: Address, input: ListUsageInput): Promise<{ items: UsageRecord[]; nextCursor?: string }> {
  const limit = input.limit ?? 50;
  const cursor = input.cursor ? { cursor: input.cursor } : {};
  if (input.payer !== undefined && input.payer.toLowerCase() !== caller.toLowerCase()) throw new ForbiddenError("Only a payer's own usage can be listed by payer");
  if (input.adapter !== undefined && input.payer === undefined) {
    // As the owner: the owner index, narrowed to the adapter. Another owner's adapter lists nothing.
    const page = await usage.query({ index: "gsi1", pk: `USAGE_OWNER#${caller}`, skPrefix: `${input.adapter}#`, reverse: true, limit, ...cursor });
    return { items: page.items.map(usageFromItem), ...(page.cursor ? { nextCursor: page.cursor } : {}) };
  }
  const page = await usage.query({ pk: `USAGE_PAYER#${caller}`, reverse: true, limit, ...cursor });
  const items = page.items.map(usageFromItem).filter((r) => input.adapter === undefined || r.adapterId === input.adapter);
  return { items, ...(page.cursor ? { nextCursor: page.cursor } : {}) };
}
