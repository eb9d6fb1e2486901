import type { ChannelState, Voucher } from "./channel.ts";

/**
 * Off-chain voucher verification: everything PaymentEscrow will check when
 * the voucher is redeemed at settlement, plus what makes it still redeemable
 * then, checked against the mirrored channel state and this platform's own
 * record of what it charged on the channel. No chain read happens here.
 */

/** Why a voucher is refused: stable codes, sent as `error` of the 402 and as the problem `type`. */
export const VoucherRejections = {
  malformed: "payment-malformed",
  wrongScheme: "payment-wrong-scheme",
  wrongNetwork: "voucher-wrong-network",
  wrongEscrow: "voucher-wrong-escrow",
  unknownChannel: "voucher-unknown-channel",
  wrongService: "voucher-wrong-service",
  wrongPayer: "voucher-wrong-payer",
  badSignature: "voucher-bad-signature",
  expired: "voucher-expires-before-settlement",
  notAboveCharged: "voucher-not-above-charged",
  belowQuote: "voucher-below-quote",
  aboveDeposit: "voucher-above-deposit",
  channelClosing: "channel-closing",
  channelDefaulted: "channel-defaulted",
} as const;
export type VoucherRejection = (typeof VoucherRejections)[keyof typeof VoucherRejections];

export type VoucherCheck = { ok: true } | { ok: false; reason: VoucherRejection; detail: string };

export interface VoucherPolicyInput {
  voucher: Voucher;
  /** What the client says it paid for: the `accepted` requirement's network and escrow. */
  accepted: { network: string; escrow: string };
  /** This deployment: chain, escrow contract, and the service address channels pay. */
  chainId: number;
  escrow: string;
  service: string;
  /** The mirrored channel, undefined when the chain has not told us about it. */
  channel: ChannelState | undefined;
  /** Cumulative amount this platform has charged on the channel (≥ what was redeemed). */
  charged: bigint;
  /** The channel stopped being served (a redemption failed on chain). */
  defaulted?: boolean;
  /** The most this call can cost. */
  maxCost: bigint;
  nowSeconds: number;
  /** Seconds until this call's charge is redeemed at the latest (epoch length + settlement delay). */
  horizonSeconds: number;
  /**
   * The address that signed the voucher under this escrow's EIP-712 domain (undefined when unreadable).
   * Given the key expected to have signed, it may verify against that key instead of recovering.
   */
  recoverSigner: (voucher: Voucher, expected?: string) => string | undefined;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Checks one voucher; the cheap comparisons first, the signature recovery (the only costly step) last. */
export function checkVoucher(input: VoucherPolicyInput): VoucherCheck {
  const { voucher: v, channel } = input;
  const reject = (reason: VoucherRejection, detail: string): VoucherCheck => ({ ok: false, reason, detail });
  if (input.accepted.network !== `eip155:${input.chainId}`) return reject(VoucherRejections.wrongNetwork, `this service is paid on eip155:${input.chainId}, not ${input.accepted.network}`);
  if (!same(input.accepted.escrow, input.escrow)) return reject(VoucherRejections.wrongEscrow, `the escrow is ${input.escrow}, not ${input.accepted.escrow}`);
  if (!channel) return reject(VoucherRejections.unknownChannel, `channel ${v.channelId} is not known (yet): open it on the escrow and retry once it is mined`);
  if (input.defaulted) return reject(VoucherRejections.channelDefaulted, `channel ${v.channelId} is no longer served: a redemption on it failed`);
  if (!same(v.service, input.service) || !same(channel.service, input.service)) return reject(VoucherRejections.wrongService, `vouchers must pay the service ${input.service}`);
  if (!same(v.payer, channel.payer)) return reject(VoucherRejections.wrongPayer, `channel ${v.channelId} belongs to ${channel.payer}, not ${v.payer}`);
  const horizon = input.nowSeconds + input.horizonSeconds;
  if (v.expiry < horizon) return reject(VoucherRejections.expired, `the voucher expires at ${v.expiry}; settlement may redeem it as late as ${horizon}`);
  if (channel.withdrawal && channel.withdrawal.availableAt <= horizon) {
    return reject(VoucherRejections.channelClosing, `a withdrawal from channel ${v.channelId} is possible at ${channel.withdrawal.availableAt}, before settlement (${horizon})`);
  }
  const charged = input.charged > channel.redeemed ? input.charged : channel.redeemed;
  if (v.cumulativeAmount <= charged) return reject(VoucherRejections.notAboveCharged, `cumulative ${v.cumulativeAmount} is not above the ${charged} already charged (a replayed or older voucher)`);
  if (v.cumulativeAmount < charged + input.maxCost) {
    return reject(VoucherRejections.belowQuote, `cumulative ${v.cumulativeAmount} is below charged ${charged} + this call's maximum ${input.maxCost}`);
  }
  if (v.cumulativeAmount > channel.deposit) return reject(VoucherRejections.aboveDeposit, `cumulative ${v.cumulativeAmount} exceeds the deposit ${channel.deposit}`);
  const signer = input.recoverSigner(v, channel.signer);
  if (!signer) return reject(VoucherRejections.badSignature, "the signature cannot be read");
  if (!same(signer, channel.signer)) return reject(VoucherRejections.badSignature, `signed by ${signer}, not by the channel's key ${channel.signer}`);
  return { ok: true };
}
