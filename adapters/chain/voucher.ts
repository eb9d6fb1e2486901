import { getAddress, verifyTypedData, type TypedDataDomain, type TypedDataField } from "ethers";
import { z } from "zod";

/**
 * EIP-712 payment vouchers for PaymentEscrow, shared by the API (which takes
 * them with each paid request) and the inference service. A voucher states the
 * *cumulative* amount the payer owes the service on a channel, so only the
 * latest one matters and a lost one costs nothing.
 */

const Bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x and 64 hex digits");
const Address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte hex address");

/** A signed voucher as it travels in JSON (amounts as decimal strings, never numbers). */
export const SignedVoucherSchema = z.strictObject({
  channelId: Bytes32,
  payer: Address,
  service: Address,
  /** Token base units owed in total on this channel, e.g. "1500" for 0.0015 tUSD (6 decimals). */
  cumulativeAmount: z.string().regex(/^(0|[1-9][0-9]{0,76})$/, "must be a non-negative decimal integer"),
  /** Unix seconds after which the voucher cannot be redeemed. */
  expiry: z.number().int().positive().max(2 ** 48),
  signature: z.string().regex(/^0x([0-9a-fA-F]{2})+$/, "must be 0x-prefixed hex"),
});
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
  return { name: "PaymentEscrow", version: "1", chainId, verifyingContract: getAddress(escrow) };
}

/** Anything that signs EIP-712 data (an ethers Wallet, a JsonRpcSigner, a KMS signer). */
export interface TypedDataSigner {
  getAddress(): Promise<string>;
  signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string>;
}

/** Signs `voucher` as its payer; refuses when the signer is not the payer. */
export async function signVoucher(signer: TypedDataSigner, domain: TypedDataDomain, voucher: Voucher): Promise<SignedVoucher> {
  const address = await signer.getAddress();
  if (getAddress(address) !== getAddress(voucher.payer)) throw new Error(`signer ${address} is not the voucher's payer ${voucher.payer}`);
  const signature = await signer.signTypedData(domain, VOUCHER_TYPES, { ...unsigned(voucher) });
  return { ...voucher, signature };
}

/** Why a voucher is refused; stable codes the API maps to problem types. */
export const VoucherRejections = {
  malformed: "voucher-malformed",
  badSignature: "voucher-bad-signature",
  expired: "voucher-expired",
  wrongService: "voucher-wrong-service",
  wrongPayer: "voucher-wrong-payer",
  notAboveLast: "voucher-not-above-last",
  aboveDeposit: "voucher-above-deposit",
} as const;
export type VoucherRejection = (typeof VoucherRejections)[keyof typeof VoucherRejections];

export type VoucherCheck = { ok: true; voucher: SignedVoucher } | { ok: false; reason: VoucherRejection; detail: string };

export interface VerifyVoucherOptions {
  /** Unix seconds now; a voucher expiring before it is refused. */
  now: number;
  /** The service that must be named (this server's payee). */
  service?: string;
  /** The channel's payer as the escrow knows it. */
  payer?: string;
  /** Cumulative amount already accepted on this channel; the voucher must be above it. */
  lastAmount?: bigint;
  /** The channel's deposit; the voucher may not exceed it. */
  deposit?: bigint;
}

/**
 * Checks a voucher the way PaymentEscrow.redeem will (EOA signatures only;
 * a smart-wallet payer's ERC-1271 signature needs the chain to check).
 */
export function verifyVoucher(domain: TypedDataDomain, input: unknown, options: VerifyVoucherOptions): VoucherCheck {
  const parsed = SignedVoucherSchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, reason: VoucherRejections.malformed, detail: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
  }
  const voucher = voucherFromJson(parsed.data);
  let signer: string;
  try {
    signer = verifyTypedData(domain, VOUCHER_TYPES, unsigned(voucher), voucher.signature);
  } catch (error) {
    return { ok: false, reason: VoucherRejections.badSignature, detail: `unreadable signature: ${(error as Error).message}` };
  }
  if (signer !== voucher.payer) return { ok: false, reason: VoucherRejections.badSignature, detail: `signed by ${signer}, not by the payer` };
  if (voucher.expiry < options.now) return { ok: false, reason: VoucherRejections.expired, detail: `expired at ${voucher.expiry}` };
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

/** The tuple PaymentEscrow.redeem takes for one voucher. */
export function redeemArg(v: SignedVoucher) {
  return { voucher: unsigned(v), signature: v.signature };
}

function unsigned(v: Voucher): Voucher {
  return { channelId: v.channelId, payer: v.payer, service: v.service, cumulativeAmount: v.cumulativeAmount, expiry: v.expiry };
}
