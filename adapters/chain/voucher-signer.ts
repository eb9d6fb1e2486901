import { secp256k1 } from "@noble/curves/secp256k1";
import { AbiCoder, concat, getAddress, getBytes, id, keccak256, TypedDataEncoder } from "ethers";
import type { Voucher } from "../../core/payments/channel.ts";
import { recoverVoucherSigner, VOUCHER_TYPES, voucherDomain } from "./voucher.ts";

/**
 * Checking who signed a voucher, under one escrow's EIP-712 domain: the one
 * costly step of off-chain verification, injected into core/payments so the
 * domain code stays free of ethers.
 *
 * A channel's vouchers are all signed by one key, so the first voucher of a
 * key is recovered in full (ecrecover, as PaymentEscrow does) and its public
 * point is kept with a precomputed window; every later voucher is *verified*
 * against that point (u1·G + u2·P with both multiplications table-driven),
 * several times cheaper than a fresh recovery. The check is exactly what
 * ecrecover would accept: low s (OpenZeppelin's ECDSA refuses high s), and the
 * recovery id must name this key's R (y parity), so a voucher accepted here
 * is never refused on chain as BadSignature.
 */
const N = secp256k1.CURVE.n;
const HALF_N = N >> 1n;
const Point = secp256k1.ProjectivePoint;
type P = InstanceType<typeof Point>;

export interface VoucherSignerCheck {
  /** The signer of `v` when it is `expected` (fast path), else the recovered signer, or undefined when unreadable. */
  (v: Voucher, expected?: string): string | undefined;
}

export function voucherSignerRecovery(chainId: number, escrow: string, options: { maxKeys?: number } = {}): VoucherSignerCheck {
  const domain = voucherDomain(chainId, escrow);
  const domainSeparator = TypedDataEncoder.hashDomain(domain);
  const typeHash = id(TypedDataEncoder.from(VOUCHER_TYPES).encodeType("Voucher"));
  const coder = AbiCoder.defaultAbiCoder();
  const maxKeys = options.maxKeys ?? 10_000;
  const keys = new Map<string, P>();

  const digestOf = (v: Voucher) =>
    keccak256(concat(["0x1901", domainSeparator, keccak256(coder.encode(["bytes32", "bytes32", "address", "address", "uint256", "uint64"], [typeHash, v.channelId, v.payer, v.service, v.cumulativeAmount, v.expiry]))]));

  const slow = (v: Voucher): string | undefined => {
    try {
      return recoverVoucherSigner(domain, v, v.signature);
    } catch {
      return undefined;
    }
  };

  const remember = (address: string, v: Voucher) => {
    try {
      const digest = getBytes(digestOf(v));
      const { r, s, recovery } = splitSignature(v.signature);
      const pub = new secp256k1.Signature(r, s).addRecoveryBit(recovery).recoverPublicKey(digest);
      pub._setWindowSize(8);
      if (keys.size >= maxKeys) keys.delete(keys.keys().next().value!);
      keys.set(address, pub);
    } catch {
      // Only an optimisation: without it the next voucher is recovered in full again.
    }
  };

  return (v, expected) => {
    const key = expected ? getAddress(expected) : undefined;
    const point = key ? keys.get(key) : undefined;
    if (key && point) {
      let sig: { r: bigint; s: bigint; recovery: number };
      try {
        sig = splitSignature(v.signature);
      } catch {
        return undefined;
      }
      if (sig.s > HALF_N || sig.r <= 0n || sig.r >= N || sig.s <= 0n) return slow(v);
      const z = BigInt(digestOf(v)) % N;
      const w = invert(sig.s);
      const R = Point.BASE.multiply((z * w) % N).add(point.multiply((sig.r * w) % N)).toAffine();
      if (R.x === sig.r && Number(R.y & 1n) === sig.recovery) return key;
      return slow(v);
    }
    const signer = slow(v);
    if (signer && key && signer === key) remember(key, v);
    return signer;
  };
}

/** r, s and the recovery bit (0/1) of a 65-byte signature (v = 27/28 or 0/1). */
function splitSignature(signature: string): { r: bigint; s: bigint; recovery: number } {
  const b = getBytes(signature);
  if (b.length !== 65) throw new Error("signature must be 65 bytes");
  const v = b[64]!;
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) throw new Error("bad recovery id");
  const hex = (from: number, to: number) => BigInt(`0x${Buffer.from(b.subarray(from, to)).toString("hex")}`);
  return { r: hex(0, 32), s: hex(32, 64), recovery };
}

function invert(a: bigint): bigint {
  // Fermat: a^(n-2) mod n (n is prime).
  let result = 1n;
  let base = a % N;
  let e = N - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % N;
    base = (base * base) % N;
    e >>= 1n;
  }
  return result;
}


