import type { ChainTx, OnSubmitted, TxState } from "../chain/chain.ts";
import type { Voucher } from "../payments/channel.ts";
import type { Shares } from "../settlement/split.ts";

/**
 * What settlement needs of the chain: PaymentEscrow's batch redemption into
 * the RewardsDistributor, and the distributor's epochs. Implemented on ethers
 * by adapters/chain (escrow-client.ts, rewards-client.ts); amounts in base
 * units. Writes report their hash through `onSubmitted` as soon as they are
 * broadcast, so a crashed settlement finds its transaction again.
 */
export interface RedeemRequest {
  voucher: Voucher;
  /** Redeem the channel up to this cumulative total (≤ the voucher's amount). */
  upTo: bigint;
}

export interface SettlementChain {
  readonly chainId: number;
  /** What the escrow has redeemed on a channel so far. */
  channelRedeemed(channelId: string): Promise<bigint>;
  /** Redeems many channels in one transaction, paying the distributor; bad vouchers are skipped by the escrow, not fatal. */
  redeem(requests: RedeemRequest[], onSubmitted?: OnSubmitted): Promise<ChainTx>;
  /** The distributor's split and treasury. */
  shares(): Promise<Shares>;
  treasury(): Promise<string>;
  /** Epochs published so far (the next is epochCount + 1). */
  epochCount(): Promise<number>;
  /** Root of a published epoch, undefined when not published. */
  epochRoot(epoch: number): Promise<string | undefined>;
  publishEpoch(epoch: number, root: string, fees: bigint, onSubmitted?: OnSubmitted): Promise<ChainTx>;
  isClaimed(epoch: number, account: string): Promise<boolean>;
  transactionState(txHash: string): Promise<TxState>;
  waitForTransaction(txHash: string): Promise<TxState>;
}
