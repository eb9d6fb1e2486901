import { getAddress, verifyTypedData, type TypedDataDomain, type TypedDataField } from "ethers";
import type { z } from "zod";
import { VoucherJson } from "../../core/payments/channel.ts";

/**
 * EIP-712 payment vouchers for PaymentEscrow ("upto" scheme), shared by the
 * API, the inference service, settlement and paying clients. A voucher states
 * the *cumulative maximum* the service may have redeemed on a channel (what
 * was charged before plus the most the next call can cost); the service
 * charges the real cost and redeems only what it charged, so only the latest
 * voucher matters and a lost one costs nothing.
 *
 * A voucher is signed by the channel's signing key (named when the channel is
 * opened, see `ChannelOpened`), not by the payer's address: PaymentEscrow
 * checks it with ecrecover only, so the payer cannot void it later by turning
 * its address into a contract (EIP-7702) with an ERC-1271 that says no.
 */

/**
 * A signed voucher as it travels in JSON (amounts as decimal strings, never
 * numbers): the one schema core/payments defines (`VoucherJson`), so a
 * voucher this module accepts is one the service accepts too. Its signature
 * is 64 or 65 bytes, the forms ecrecover-based checks can read.
 */
export const SignedVoucherSchema = VoucherJson;
export type SignedVoucherJson = z.infer<typeof SignedVoucherSchema>;

export interface Voucher {
  channelId: string;
  payer: string;
  service: string;
  cumulativeAmount: bigint;
  expiry: number;
}

export interface SignedVoucher extends Voucher {
  signature: string;
}

/** The EIP-712 primary type name. */
export const VOUCHER_PRIMARY_TYPE = "Voucher";
/** The escrow's EIP-712 domain name and version (PaymentEscrow's constructor). */
export const VOUCHER_DOMAIN_NAME = "PaymentEscrow";
export const VOUCHER_DOMAIN_VERSION = "1";

/**
 * How long after it is accepted a voucher must stay redeemable: one epoch
 * (the call may come right after a settlement) plus the grace a settlement
 * transaction needs to land (default 15 minutes: a slow or briefly down chain).
 * A voucher expiring sooner could be accepted and then never redeemed.
 */
export function settlementHorizonSeconds(epochSeconds: number, graceSeconds = 15 * 60): number {
  if (!(epochSeconds > 0) || !(graceSeconds >= 0)) throw new RangeError("epochSeconds must be > 0 and graceSeconds >= 0");
  return Math.ceil(epochSeconds + graceSeconds);
}

/** The horizon for the hourly epochs of the AWS deployment: 1 h 15 min. */
export const DEFAULT_SETTLEMENT_HORIZON_SECONDS = settlementHorizonSeconds(3600);

/** Field list of the EIP-712 `Voucher` type; must match PaymentEscrow.VOUCHER_TYPEHASH. */
export const VOUCHER_TYPES: Record<string, TypedDataField[]> = {
  Voucher: [
    { name: "channelId", type: "bytes32" },
    { name: "payer", type: "address" },
    { name: "service", type: "address" },
    { name: "cumulativeAmount", type: "uint256" },
    { name: "expiry", type: "uint64" },
  ],
};

/** The EIP-712 domain of the escrow at `escrow` on chain `chainId`. */
export function voucherDomain(chainId: number | bigint, escrow: string): TypedDataDomain {
  return { name: VOUCHER_DOMAIN_NAME, version: VOUCHER_DOMAIN_VERSION, chainId, verifyingContract: getAddress(escrow) };
}

/** The full `eth_signTypedData_v4` payload for a voucher (for browser wallets and other signers). */
export function voucherTypedData(domain: TypedDataDomain, voucher: Voucher) {
  const v = unsigned(voucher);
  return {
    domain,
    types: { EIP712Domain: eip712DomainFields(domain), ...VOUCHER_TYPES },
    primaryType: VOUCHER_PRIMARY_TYPE,
    message: { ...v, cumulativeAmount: v.cumulativeAmount.toString() },
  };
}

/** Anything that signs EIP-712 data (an ethers Wallet, a JsonRpcSigner, a KMS signer). */
export interface TypedDataSigner {
  getAddress(): Promise<string>;
  signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string>;
}

/**
 * Signs `voucher` with the channel's signing key. Pass `expectedSigner` (the
 * key the channel was opened with) to refuse signing with a wrong key early.
 */
export async function signVoucher(signer: TypedDataSigner, domain: TypedDataDomain, voucher: Voucher, expectedSigner?: string): Promise<SignedVoucher> {
  if (expectedSigner) {
    const address = await signer.getAddress();
    if (getAddress(address) !== getAddress(expectedSigner)) throw new Error(`signer ${address} is not the channel's signing key ${expectedSigner}`);
  }
  const signature = await signer.signTypedData(domain, VOUCHER_TYPES, { ...unsigned(voucher) });
  return { ...voucher, signature };
}

/** Why a voucher is refused; stable codes the API maps to problem types. */
export const VoucherRejections = {
  malformed: "voucher-malformed",
  badSignature: "voucher-bad-signature",
  expired: "voucher-expired",
  /** Expires before the next settlement can redeem it (inside the settlement horizon). */
  expiresTooSoon: "voucher-expires-before-settlement",
  wrongService: "voucher-wrong-service",
  wrongPayer: "voucher-wrong-payer",
  notAboveLast: "voucher-not-above-last",
  aboveDeposit: "voucher-above-deposit",
} as const;
export type VoucherRejection = (typeof VoucherRejections)[keyof typeof VoucherRejections];

export type VoucherCheck = { ok: true; voucher: SignedVoucher } | { ok: false; reason: VoucherRejection; detail: string };

export interface VerifyVoucherOptions {
  /** Unix seconds now. */
  now: number;
  /** The channel's signing key (from its `ChannelOpened` event); only its signature is accepted. */
  signer: string;
  /** A voucher must stay redeemable this many seconds from now (default DEFAULT_SETTLEMENT_HORIZON_SECONDS). */
  horizonSeconds?: number;
  /** The service that must be named (this server's payee). */
  service?: string;
  /** The channel's payer as the escrow knows it. */
  payer?: string;
  /** Cumulative amount already accepted on this channel; the voucher must be above it. */
  lastAmount?: bigint;
  /**
   * The most the voucher may authorise: the channel's deposit, less any
   * amount a pending withdrawal has locked.
   */
  deposit?: bigint;
}

/**
 * Checks a voucher the way PaymentEscrow.redeem will, plus what only the
 * service can know (the last accepted amount, the settlement horizon). Pure
 * CPU: the channel's state comes from the caller's mirror of chain events.
 */
export function verifyVoucher(domain: TypedDataDomain, input: unknown, options: VerifyVoucherOptions): VoucherCheck {
  const parsed = SignedVoucherSchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, reason: VoucherRejections.malformed, detail: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
  }
  const voucher = voucherFromJson(parsed.data);
  let signer: string;
  try {
    signer = recoverVoucherSigner(domain, voucher, voucher.signature);
  } catch (error) {
    return { ok: false, reason: VoucherRejections.badSignature, detail: `unreadable signature: ${(error as Error).message}` };
  }
  if (signer !== getAddress(options.signer)) {
    return { ok: false, reason: VoucherRejections.badSignature, detail: `signed by ${signer}, not by the channel's key ${options.signer}` };
  }
  if (voucher.expiry < options.now) return { ok: false, reason: VoucherRejections.expired, detail: `expired at ${voucher.expiry}` };
  const horizon = options.horizonSeconds ?? DEFAULT_SETTLEMENT_HORIZON_SECONDS;
  if (voucher.expiry < options.now + horizon) {
    return { ok: false, reason: VoucherRejections.expiresTooSoon, detail: `expires at ${voucher.expiry}, before ${options.now + horizon} (now + ${horizon} s settlement horizon)` };
  }
  if (options.service && getAddress(options.service) !== voucher.service) {
    return { ok: false, reason: VoucherRejections.wrongService, detail: `names service ${voucher.service}` };
  }
  if (options.payer && getAddress(options.payer) !== voucher.payer) {
    return { ok: false, reason: VoucherRejections.wrongPayer, detail: `the channel's payer is ${options.payer}` };
  }
  if (options.lastAmount !== undefined && voucher.cumulativeAmount <= options.lastAmount) {
    return { ok: false, reason: VoucherRejections.notAboveLast, detail: `cumulative ${voucher.cumulativeAmount} is not above ${options.lastAmount}` };
  }
  if (options.deposit !== undefined && voucher.cumulativeAmount > options.deposit) {
    return { ok: false, reason: VoucherRejections.aboveDeposit, detail: `cumulative ${voucher.cumulativeAmount} exceeds the deposit ${options.deposit}` };
  }
  return { ok: true, voucher };
}

/**
 * The address whose key signed `voucher` (EIP-712 over this domain), as
 * PaymentEscrow's ecrecover sees it; throws on an unreadable signature.
 * Compare it with the channel's signing key, never with the payer.
 */
export function recoverVoucherSigner(domain: TypedDataDomain, voucher: Voucher, signature: string): string {
  return verifyTypedData(domain, VOUCHER_TYPES, unsigned(voucher), signature);
}

/** The JSON form of a signed voucher (for an HTTP header or body). */
export function voucherToJson(v: SignedVoucher): SignedVoucherJson {
  return { channelId: v.channelId, payer: v.payer, service: v.service, cumulativeAmount: v.cumulativeAmount.toString(), expiry: v.expiry, signature: v.signature };
}

/** A signed voucher from its validated JSON form, addresses checksummed. */
export function voucherFromJson(j: SignedVoucherJson): SignedVoucher {
  return {
    channelId: j.channelId.toLowerCase(),
    payer: getAddress(j.payer),
    service: getAddress(j.service),
    cumulativeAmount: BigInt(j.cumulativeAmount),
    expiry: j.expiry,
    signature: j.signature,
  };
}

/** Encodes a voucher for the `X-Payment-Voucher` header: base64url of its JSON. */
export function encodeVoucherHeader(v: SignedVoucher): string {
  return Buffer.from(JSON.stringify(voucherToJson(v))).toString("base64url");
}

/** Decodes the header form; returns the raw JSON for `verifyVoucher`, or undefined when it is not JSON. */
export function decodeVoucherHeader(header: string): unknown {
  try {
    return JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The `Redemption` tuple PaymentEscrow.redeem takes for one channel: its
 * latest voucher and the cumulative amount really `charged` on the channel
 * (at most the voucher's maximum), which becomes its redeemed total.
 */
export function redeemArg(v: SignedVoucher, charged: bigint) {
  if (charged < 0n || charged > v.cumulativeAmount) throw new RangeError(`charged ${charged} is outside 0..${v.cumulativeAmount} (the voucher's maximum)`);
  return { voucher: unsigned(v), signature: v.signature, charged };
}

/**
 * The most redemptions to send in one PaymentEscrow.redeem transaction. One
 * costs about 24.2k gas (contracts:gas, docs/benchmarks.md "Settlement gas"),
 * and Osaka caps a transaction at 2^24 = 16.78M gas (EIP-7825), which fits
 * about 690; 600 leaves room for calldata-heavier signatures and forks that
 * price calldata higher.
 */
export const MAX_REDEMPTIONS_PER_TX = 600;

/** Splits redemptions into batches of at most `size` (default MAX_REDEMPTIONS_PER_TX), in order. */
export function redemptionBatches<T>(items: readonly T[], size = MAX_REDEMPTIONS_PER_TX): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError("size must be a positive integer");
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}

/** PaymentEscrow.SkipReason by its number, as `RedemptionSkipped` events carry it. */
export const REDEMPTION_SKIP_REASONS = [
  "none",
  "unknown-channel",
  "wrong-service",
  "payer-mismatch",
  "expired",
  "charge-above-voucher",
  "already-redeemed",
  "deposit-exhausted",
  "bad-signature",
] as const;
export type RedemptionSkipReason = (typeof REDEMPTION_SKIP_REASONS)[number];

/** The skip reason of a `RedemptionSkipped` event's `reason` field. */
export function redemptionSkipReason(code: number | bigint): RedemptionSkipReason {
  const reason = REDEMPTION_SKIP_REASONS[Number(code)];
  if (!reason) throw new RangeError(`unknown PaymentEscrow.SkipReason ${code}`);
  return reason;
}

function eip712DomainFields(domain: TypedDataDomain): TypedDataField[] {
  const all: [keyof TypedDataDomain, string][] = [["name", "string"], ["version", "string"], ["chainId", "uint256"], ["verifyingContract", "address"], ["salt", "bytes32"]];
  return all.filter(([k]) => domain[k] !== undefined && domain[k] !== null).map(([name, type]) => ({ name, type }));
}

function unsigned(v: Voucher): Voucher {
  return { channelId: v.channelId, payer: v.payer, service: v.service, cumulativeAmount: v.cumulativeAmount, expiry: v.expiry };
}
