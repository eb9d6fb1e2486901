import { ChainRevertedError, ChainUnavailableError } from "../../core/chain/errors.ts";
import type { ChainTx, OnSubmitted, TxState } from "../../core/chain/chain.ts";
import type { RedeemRequest, SettlementChain } from "../../core/ports/settlement-chain.ts";
import type { Shares } from "../../core/settlement/split.ts";

/**
 * An in-memory escrow + distributor with PaymentEscrow's and
 * RewardsDistributor's rules that matter to settlement, able to "crash" the
 * caller right after a transaction is broadcast (the effect happens, the
 * caller never learns the outcome), or to be down.
 */
export class FakeSettlementChain implements SettlementChain {
  readonly chainId = 31337;
  readonly redeemed = new Map<string, bigint>();
  readonly epochs: { root: string; fees: bigint }[] = [];
  redeemTxs = 0;
  publishTxs = 0;
  distributorBalance = 0n;
  allocated = 0n;
  crashAfter: "redeem" | "publish" | undefined;
  down = false;
  /** Channels whose vouchers the escrow skips (e.g. a payer who voided them). */
  readonly refuse = new Set<string>();
  readonly #txs = new Map<string, TxState>();
  readonly sharesValue: Shares;
  readonly treasuryAddress: string;
  constructor(shares: Shares = { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 }, treasury = "0x000000000000000000000000000000000000Feed") {
    this.sharesValue = shares;
    this.treasuryAddress = treasury;
  }

  async channelRedeemed(channelId: string) {
    this.#up();
    return this.redeemed.get(channelId) ?? 0n;
  }
  async redeem(requests: RedeemRequest[], onSubmitted?: OnSubmitted): Promise<ChainTx> {
    this.#up();
    const hash = this.#hash();
    this.redeemTxs++;
    for (const r of requests) {
      const id = r.voucher.channelId;
      const before = this.redeemed.get(id) ?? 0n;
      if (this.refuse.has(id) || r.upTo <= before || r.upTo > r.voucher.cumulativeAmount) continue; // skipped, as the batch redeem does
      this.redeemed.set(id, r.upTo);
      this.distributorBalance += r.upTo - before;
    }
    return this.#mined(hash, "redeem", onSubmitted);
  }
  async shares() {
    return this.sharesValue;
  }
  async treasury() {
    return this.treasuryAddress;
  }
  async epochCount() {
    this.#up();
    return this.epochs.length;
  }
  async epochRoot(epoch: number) {
    this.#up();
    return this.epochs[epoch - 1]?.root;
  }
  async publishEpoch(epoch: number, root: string, fees: bigint, onSubmitted?: OnSubmitted): Promise<ChainTx> {
    this.#up();
    if (epoch !== this.epochs.length + 1) throw new ChainRevertedError(`RewardsDistributorBadEpoch(${epoch}, ${this.epochs.length + 1})`);
    if (fees > this.distributorBalance - this.allocated) throw new ChainRevertedError("RewardsDistributorInsufficientFunds");
    const hash = this.#hash();
    this.publishTxs++;
    this.epochs.push({ root, fees });
    const platform = (fees * BigInt(this.sharesValue.platformBps)) / 10_000n;
    this.distributorBalance -= platform;
    this.allocated += fees - platform;
    return this.#mined(hash, "publish", onSubmitted);
  }
  async isClaimed() {
    return false;
  }
  async transactionState(txHash: string) {
    this.#up();
    return this.#txs.get(txHash) ?? { state: "unknown" as const };
  }
  async waitForTransaction(txHash: string) {
    return this.transactionState(txHash);
  }
  #up() {
    if (this.down) throw new ChainUnavailableError("RPC down (test)");
  }
  #hash() {
    return `0x${(this.#txs.size + 1).toString(16).padStart(64, "0")}`;
  }
  async #mined(hash: string, kind: "redeem" | "publish", onSubmitted?: OnSubmitted): Promise<ChainTx> {
    this.#txs.set(hash, { state: "mined", blockNumber: this.#txs.size + 1 });
    if (onSubmitted) await onSubmitted(hash);
    if (this.crashAfter === kind) {
      this.crashAfter = undefined;
      throw new Error(`crash after the ${kind} broadcast (test)`);
    }
    return { txHash: hash, blockNumber: this.#txs.size };
  }
}
