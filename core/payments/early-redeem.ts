import type { Clock } from "../ports/clock.ts";
import type { SettlementChain } from "../ports/settlement-chain.ts";
import type { TableStore } from "../ports/tables.ts";
import { queryAll } from "../query-all.ts";
import { channelFromItem } from "./channel.ts";
import { readLedger } from "./channel-ledger.ts";
import { CLOSING_PK, channelStateKey, closingUpTo } from "./keys.ts";

/**
 * Redeem first on a channel that is closing. A payer may ask PaymentEscrow
 * for its unredeemed deposit back; after the escrow's delay it can take it,
 * and whatever this platform charged but had not redeemed by then is lost.
 * The voucher policy already refuses new vouchers on such a channel; this
 * watcher redeems what was charged on it *now*, ahead of the epoch's
 * settlement, whenever its withdrawal becomes possible before that
 * settlement would come. It reads the CLOSING markers the channel mirror
 * writes (no scan) and the charge ledger; settlement later finds those
 * channels redeemed up to their calls' totals and redeems nothing twice
 * (the escrow keeps the cumulative redeemed total, so a repeat is a no-op).
 * The funds go where settlement sends them (the distributor), so the epoch
 * that holds the calls is funded as before.
 */
export interface EarlyRedeemDeps {
  usage: TableStore;
  chain: Pick<SettlementChain, "redeem" | "channelRedeemed">;
  clock: Clock;
  /**
   * Seconds until settlement has redeemed what is charged now, at the latest
   * (epoch length + grace + the transaction's time): a withdrawal possible
   * before now + this is redeemed early.
   */
  horizonSeconds: number;
  /** Most channels per redemption transaction (default 600, as settlement). */
  maxPerTx?: number;
}

export interface EarlyRedemption {
  channelId: string;
  /** Redeemed up to this cumulative charge. */
  upTo: bigint;
  /** Unix seconds from which the payer could withdraw. */
  availableAt: number;
}

/** Redeems every closing channel that holds charges not yet redeemed; returns what it sent. */
export async function redeemClosingChannels(deps: EarlyRedeemDeps): Promise<EarlyRedemption[]> {
  const nowSeconds = Math.floor(deps.clock.now() / 1000);
  const due: (EarlyRedemption & { voucher: NonNullable<Awaited<ReturnType<typeof readLedger>>["voucher"]> })[] = [];
  for await (const marker of queryAll(deps.usage, { pk: CLOSING_PK, skBetween: closingUpTo(nowSeconds + deps.horizonSeconds) })) {
    const channelId = marker.channelId as string;
    const [stateItem, ledger] = await Promise.all([deps.usage.get(channelStateKey(channelId)), readLedger(deps.usage, channelId)]);
    if (!stateItem || !ledger.voucher || ledger.defaulted) continue;
    const mirrored = channelFromItem(stateItem);
    // The ledger's voucher authorises at least what was charged (each charge is under its call's voucher).
    const upTo = ledger.charged < ledger.voucher.cumulativeAmount ? ledger.charged : ledger.voucher.cumulativeAmount;
    if (upTo <= mirrored.redeemed) continue;
    // The mirror trails the chain by a block or two: ask the chain before paying gas for a no-op.
    if ((await deps.chain.channelRedeemed(channelId)) >= upTo) continue;
    due.push({ channelId, upTo, availableAt: marker.availableAt as number, voucher: ledger.voucher });
  }
  const size = deps.maxPerTx ?? 600;
  for (let i = 0; i < due.length; i += size) {
    await deps.chain.redeem(due.slice(i, i + size).map((d) => ({ voucher: d.voucher, upTo: d.upTo })));
  }
  return due.map(({ channelId, upTo, availableAt }) => ({ channelId, upTo, availableAt }));
}
