import { secp256k1 } from "@noble/curves/secp256k1";
import { computeAddress, getAddress, getBytes, id, keccak256, TypedDataEncoder } from "ethers";
import type { Voucher } from "../../core/payments/channel.ts";
import { VOUCHER_TYPES, voucherDomain } from "./voucher.ts";

/**
 * Recovery of a voucher's signer under one escrow's EIP-712 domain: the one
 * costly step of off-chain verification, injected into core/payments so the
 * domain code stays free of ethers.
 *
 * The domain separator and the type hash are computed once and the struct is
 * abi-encoded by hand (six 32-byte words): ethers' generic TypedDataEncoder
 * and AbiCoder cost more than the curve arithmetic. The recovery is what
 * PaymentEscrow's ECDSA.tryRecover accepts: 65 bytes, v of 27/28 (or 0/1),
 * and low s (a high-s twin is refused, as OpenZeppelin does).
 */
const HALF_N = secp256k1.CURVE.n >> 1n;

export type VoucherSignerCheck = (v: Voucher, expected?: string) => string | undefined;

export function voucherSignerRecovery(chainId: number, escrow: string): VoucherSignerCheck {
  const domainSeparator = TypedDataEncoder.hashDomain(voucherDomain(chainId, escrow)).slice(2);
  const typeHash = id(TypedDataEncoder.from(VOUCHER_TYPES).encodeType("Voucher")).slice(2);
  const word = (hex: string) => hex.slice(2).toLowerCase().padStart(64, "0");
  const digestOf = (v: Voucher) => {
    const struct = keccak256(`0x${typeHash}${word(v.channelId)}${word(v.payer)}${word(v.service)}${v.cumulativeAmount.toString(16).padStart(64, "0")}${v.expiry.toString(16).padStart(64, "0")}`);
    return getBytes(keccak256(`0x1901${domainSeparator}${struct.slice(2)}`));
  };
  return (v) => {
    try {
      const b = getBytes(v.signature);
      if (b.length !== 65) return undefined;
      const recovery = b[64]! >= 27 ? b[64]! - 27 : b[64]!;
      if (recovery !== 0 && recovery !== 1) return undefined;
      const r = BigInt(`0x${Buffer.from(b.subarray(0, 32)).toString("hex")}`);
      const s = BigInt(`0x${Buffer.from(b.subarray(32, 64)).toString("hex")}`);
      if (s > HALF_N) return undefined;
      const pub = new secp256k1.Signature(r, s).addRecoveryBit(recovery).recoverPublicKey(digestOf(v));
      return getAddress(computeAddress(`0x${pub.toHex(false)}`));
    } catch {
      return undefined;
    }
  };
}
