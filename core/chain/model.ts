import { z } from "zod";
import type { Key } from "../ports/tables.ts";

/**
 * Chain-sync records: one item per thing written on chain, keyed by what it
 * is (a Datanet version, an adapter), so a replayed event finds the record
 * and never sends a second transaction.
 */

export const ChainStatusValue = z.enum(["pending", "submitted", "confirmed", "failed"]);
export type ChainStatusValue = z.infer<typeof ChainStatusValue>;

/** What the API shows beside a Datanet version or adapter. */
export const ChainStatus = z
  .object({
    /** pending: not sent yet; submitted: broadcast, not mined; confirmed: mined; failed: reverted (see `error`). */
    status: ChainStatusValue,
    txHash: z.string().nullable(),
    blockNumber: z.number().int().nullable(),
    chainId: z.number().int().nullable(),
    error: z.string().optional(),
  })
  .meta({ id: "ChainStatus" });
export type ChainStatus = z.infer<typeof ChainStatus>;

export const ChainRecordKinds = { datanetVersion: "datanet-version", adapter: "adapter", adapterPrice: "adapter-price" } as const;
export type ChainRecordKind = (typeof ChainRecordKinds)[keyof typeof ChainRecordKinds];

/** The record of a Datanet version's publication on chain. */
export const versionChainKey = (datanetId: string, version: number): Key => ({
  pk: `CHAIN#${ChainRecordKinds.datanetVersion}#${datanetId}#${version}`,
  sk: "CHAIN",
});

/** The record of an adapter's registration on chain (by the platform's adapter id). */
export const adapterChainKey = (adapterId: string): Key => ({
  pk: `CHAIN#${ChainRecordKinds.adapter}#${adapterId}`,
  sk: "CHAIN",
});

/** The record of one price change of an adapter on chain, by the time the owner set it. */
export const adapterPriceChainKey = (adapterId: string, setAt: string): Key => ({
  pk: `CHAIN#${ChainRecordKinds.adapterPrice}#${adapterId}`,
  sk: `SET#${setAt}`,
});

/** The latest price change of an adapter sent to the chain, so an older one delivered late is not sent after it. */
export const adapterLatestPriceKey = (adapterId: string): Key => ({
  pk: `CHAIN#${ChainRecordKinds.adapterPrice}#${adapterId}`,
  sk: "LATEST",
});

/** Stored record; `rev` guards every update (optimistic concurrency), `leaseUntil` keeps two workers from sending at once. */
export interface ChainRecord {
  pk: string;
  sk: string;
  kind: ChainRecordKind;
  status: Exclude<ChainStatusValue, "pending"> | "sending";
  rev: number;
  chainId: number;
  txHash?: string;
  blockNumber?: number;
  error?: string;
  /** Epoch ms until which the worker that set it may send. */
  leaseUntil?: number;
  attempts: number;
  updatedAt: string;
  [extra: string]: unknown;
}

export const PENDING: ChainStatus = { status: "pending", txHash: null, blockNumber: null, chainId: null };

/** A record as the API shows it; no record yet means pending. */
export function chainStatusOf(record: Record<string, unknown> | undefined): ChainStatus {
  if (!record) return PENDING;
  const r = record as ChainRecord;
  const status: ChainStatusValue = r.status === "sending" ? (r.txHash ? "submitted" : "pending") : r.status;
  return {
    status,
    txHash: r.txHash ?? null,
    blockNumber: r.blockNumber ?? null,
    chainId: r.chainId ?? null,
    ...(r.error ? { error: r.error } : {}),
  };
}
