import { Contract, hexlify, randomBytes, type Signer } from "ethers";
import { artifacts } from "../contracts/artifacts/index.ts";

/**
 * The payer's side of PaymentEscrow and its ERC-20: open a channel, top it
 * up, read it, ask for the rest back. Every write waits for its receipt, so
 * when a method returns the chain has the change (the platform mirrors it
 * from the event a second or so later).
 */

/** A channel as PaymentEscrow stores it (amounts in token base units). */
export interface OnChainChannel {
  channelId: string;
  payer: string;
  service: string;
  signer: string;
  deposit: bigint;
  redeemed: bigint;
  /** A pending withdrawal: what it may take and when (unix seconds); null when none. */
  withdrawal: { amount: bigint; availableAt: number } | null;
}

export class EscrowClient {
  readonly payer: Signer;
  readonly escrowAddress: string;
  readonly tokenAddress: string;
  readonly #escrow: Contract;
  readonly #token: Contract;

  constructor(payer: Signer, escrowAddress: string, tokenAddress: string) {
    this.payer = payer;
    this.escrowAddress = escrowAddress;
    this.tokenAddress = tokenAddress;
    this.#escrow = new Contract(escrowAddress, artifacts.PaymentEscrow.abi as never, payer);
    this.#token = new Contract(tokenAddress, artifacts.TestToken.abi as never, payer);
  }

  /**
   * Opens a channel from the payer to `service` whose vouchers `signingKey`
   * signs, depositing `amount` (approved first). A random salt makes the id
   * fresh, so a payer can hold several channels to one service.
   */
  async open(service: string, signingKey: string, amount: bigint): Promise<{ channelId: string; txHash: string }> {
    const salt = hexlify(randomBytes(32));
    const channelId: string = await this.#escrow.getFunction("channelIdOf")(await this.payer.getAddress(), service, salt);
    await this.#approve(amount);
    const tx = await this.#escrow.getFunction("open")(service, signingKey, salt, amount);
    await tx.wait();
    return { channelId: channelId.toLowerCase(), txHash: tx.hash as string };
  }

  /** Adds `amount` to a channel's deposit. */
  async deposit(channelId: string, amount: bigint): Promise<string> {
    await this.#approve(amount);
    const tx = await this.#escrow.getFunction("deposit")(channelId, amount);
    await tx.wait();
    return tx.hash as string;
  }

  /** Asks for up to `amount` of the unredeemed deposit back, after the escrow's delay. */
  async requestWithdrawal(channelId: string, amount: bigint): Promise<string> {
    const tx = await this.#escrow.getFunction("requestWithdrawal")(channelId, amount);
    await tx.wait();
    return tx.hash as string;
  }

  /** The channel on chain, or undefined when the escrow does not know it. */
  async channel(channelId: string): Promise<OnChainChannel | undefined> {
    const c = await this.#escrow.getFunction("getChannel")(channelId);
    if (/^0x0{40}$/i.test(c.payer as string)) return undefined;
    const withdrawableAt = Number(c.withdrawableAt);
    return {
      channelId: channelId.toLowerCase(),
      payer: c.payer as string,
      service: c.service as string,
      signer: c.signer as string,
      deposit: BigInt(c.deposit),
      redeemed: BigInt(c.redeemed),
      withdrawal: withdrawableAt > 0 ? { amount: BigInt(c.withdrawalAmount), availableAt: withdrawableAt } : null,
    };
  }

  /** The payer's token balance. */
  async balance(): Promise<bigint> {
    return BigInt(await this.#token.getFunction("balanceOf")(await this.payer.getAddress()));
  }

  /** Mints test tokens to the payer: only the local/test chains' TestToken allows it (anyone may mint there). */
  async mintTestTokens(amount: bigint): Promise<string> {
    const tx = await this.#token.getFunction("mint")(await this.payer.getAddress(), amount);
    await tx.wait();
    return tx.hash as string;
  }

  async #approve(amount: bigint): Promise<void> {
    if (amount === 0n) return;
    const tx = await this.#token.getFunction("approve")(this.escrowAddress, amount);
    await tx.wait();
  }
}
