import { Contract, getAddress, ZeroHash, type Signer } from "ethers";
import type { ChainTx, OnSubmitted, TxState } from "../../core/chain/chain.ts";
import { ChainUnavailableError } from "../../core/chain/errors.ts";
import type { RedeemRequest, SettlementChain } from "../../core/ports/settlement-chain.ts";
import type { Shares } from "../../core/settlement/split.ts";
import { artifacts } from "../../contracts/artifacts/index.ts";
import type { ChainAddresses } from "../../contracts/deploy.ts";
import { isTransientRpcError, withRetry, type RetryOptions } from "./retry.ts";
import { TxSender, type TxSenderOptions } from "./tx-sender.ts";
import { redeemArg } from "./voucher.ts";

/**
 * The SettlementChain port on ethers: PaymentEscrow's batch redemption (paid
 * into the RewardsDistributor) and the distributor's epochs, sent from the
 * platform's service/operator key with the shared TxSender rules (local
 * nonces, gas headroom, retried RPC, reverts as ChainRevertedError).
 */
export class EthersSettlementChain implements SettlementChain {
  readonly chainId: number;
  readonly #addresses: ChainAddresses;
  readonly #sender: TxSender;
  readonly #escrow: Contract;
  readonly #rewards: Contract;
  readonly #retry: RetryOptions;

  constructor(signer: Signer, addresses: ChainAddresses, options: TxSenderOptions = {}) {
    if (!signer.provider) throw new Error("EthersSettlementChain: the signer must be connected to a provider");
    this.chainId = addresses.chainId;
    this.#addresses = addresses;
    this.#sender = new TxSender(signer, options);
    this.#escrow = new Contract(addresses.paymentEscrow, artifacts.PaymentEscrow.abi as never, signer.provider);
    this.#rewards = new Contract(addresses.rewardsDistributor, artifacts.RewardsDistributor.abi as never, signer.provider);
    this.#retry = options.retry ?? {};
  }

  async channelRedeemed(channelId: string): Promise<bigint> {
    const c = await this.#read(() => this.#escrow.getFunction("getChannel")(channelId));
    return BigInt(c.redeemed);
  }

  async redeem(requests: RedeemRequest[], onSubmitted?: OnSubmitted): Promise<ChainTx> {
    const data = this.#escrow.interface.encodeFunctionData("redeem", [requests.map((r) => this.#redeemItem(r)), this.#addresses.rewardsDistributor]);
    return this.#sender.send({ to: this.#addresses.paymentEscrow, data }, onSubmitted);
  }

  async shares(): Promise<Shares> {
    const s = await this.#read(() => this.#rewards.getFunction("shares")());
    return { contributorsBps: Number(s.contributorsBps ?? s[0]), ownersBps: Number(s.ownersBps ?? s[1]), platformBps: Number(s.platformBps ?? s[2]) };
  }

  async treasury(): Promise<string> {
    return getAddress(await this.#read(() => this.#rewards.getFunction("treasury")()));
  }

  async epochCount(): Promise<number> {
    return Number(await this.#read(() => this.#rewards.getFunction("epochCount")()));
  }

  async epochRoot(epoch: number): Promise<string | undefined> {
    const e = await this.#read(() => this.#rewards.getFunction("getEpoch")(epoch));
    return e.root === ZeroHash ? undefined : (e.root as string);
  }

  async publishEpoch(epoch: number, root: string, fees: bigint, onSubmitted?: OnSubmitted): Promise<ChainTx> {
    const data = this.#rewards.interface.encodeFunctionData("publishEpoch", [epoch, root, fees]);
    return this.#sender.send({ to: this.#addresses.rewardsDistributor, data }, onSubmitted);
  }

  async isClaimed(epoch: number, account: string): Promise<boolean> {
    return Boolean(await this.#read(() => this.#rewards.getFunction("isClaimed")(epoch, account)));
  }

  async transactionState(txHash: string): Promise<TxState> {
    return this.#sender.state(txHash);
  }

  async waitForTransaction(txHash: string): Promise<TxState> {
    return this.#sender.waitForState(txHash);
  }


  /** One `Redemption` of the batch: the channel's latest voucher and its cumulative charged total. */
  #redeemItem(r: RedeemRequest) {
    return redeemArg(r.voucher, r.upTo);
  }

  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(fn, isTransientRpcError, this.#retry);
    } catch (error) {
      if (isTransientRpcError(error)) throw new ChainUnavailableError(`RPC failed: ${(error as Error).message}`, { cause: error });
      throw error;
    }
  }
}
