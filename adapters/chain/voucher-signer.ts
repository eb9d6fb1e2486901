import { createKeccak } from "hash-wasm";
import { computeAddress, id, TypedDataEncoder } from "ethers";
import * as ecc from "tiny-secp256k1";
import type { Voucher } from "../../core/payments/channel.ts";
import { VOUCHER_TYPES, voucherDomain } from "./voucher.ts";

/**
 * Checks a voucher's signer under one escrow's EIP-712 domain: the one
 * costly step of off-chain verification, injected into core/payments so the
 * domain code stays free of ethers.
 *
 * Why it is shaped so (bench:payments measures it, docs/benchmarks.md):
 * - The curve work runs in libsecp256k1 compiled to WASM (tiny-secp256k1),
 *   several times faster than pure-JS bigint arithmetic (noble-curves took
 *   ~5 ms per recovery on the development machine, libsecp256k1 ~0.6 ms).
 * - A channel's signing key is fixed when the channel opens, so its public
 *   point is cached once its address matched; later vouchers compare the
 *   recovered point with it and skip the keccak and checksum of an address.
 *   (Recovery, not verification against the cached point: a valid (r, s)
 *   with the wrong recovery byte verifies, yet the escrow's ecrecover would
 *   recover another address from it and the redemption would fail.)
 * - The domain separator and the type hash are computed once; the struct is
 *   written into one reused 6-word buffer and hashed over bytes with
 *   hash-wasm's keccak (about 9× faster here than keccak in JS, which alone
 *   took ~70–100 µs for the two hashes), with no hex strings or ABI coder.
 *
 * What is accepted is what PaymentEscrow's ECDSA.tryRecover accepts: 65
 * bytes, v of 27/28 (or 0/1), low s (a high-s twin is refused, as
 * OpenZeppelin does).
 */
export type VoucherSignerCheck = (v: Voucher, expected?: string) => string | undefined;

/** secp256k1's n / 2, big-endian: an s above it is the malleable twin. */
const HALF_N = Buffer.from("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", "hex");

/** How many channels' public points to keep (a point is 65 bytes; 100k channels ≈ 10 MB with the map's overhead). */
const DEFAULT_CACHE_SIZE = 100_000;

// One keccak-256 instance for the process (hash-wasm creates it asynchronously; its use is synchronous).
const keccak = await createKeccak(256);
const keccak256 = (data: Uint8Array): Uint8Array => {
  keccak.init();
  keccak.update(data);
  return keccak.digest("binary");
};

export function voucherSignerRecovery(chainId: number, escrow: string, cacheSize = DEFAULT_CACHE_SIZE): VoucherSignerCheck {
  const domainSeparator = Buffer.from(TypedDataEncoder.hashDomain(voucherDomain(chainId, escrow)).slice(2), "hex");
  const typeHash = Buffer.from(id(TypedDataEncoder.from(VOUCHER_TYPES).encodeType("Voucher")).slice(2), "hex");
  // keccak(typeHash ‖ channelId ‖ payer ‖ service ‖ cumulativeAmount ‖ expiry): six 32-byte words.
  const struct = Buffer.alloc(6 * 32);
  typeHash.copy(struct, 0);
  // keccak(0x19 0x01 ‖ domainSeparator ‖ structHash)
  const envelope = Buffer.alloc(2 + 32 + 32);
  envelope[0] = 0x19;
  envelope[1] = 0x01;
  domainSeparator.copy(envelope, 2);
  const sig64 = Buffer.alloc(64);
  // The signing key's uncompressed point by its lower-case address, oldest first (a Map keeps insertion order).
  const points = new Map<string, { point: Uint8Array; address: string }>();

  const word = (at: number, hex: string) => {
    const digits = hex.startsWith("0x") ? hex.slice(2) : hex;
    if (digits.length > 64 || !/^[0-9a-fA-F]*$/.test(digits)) throw new Error("not a 32-byte word");
    struct.fill(0, at, at + 32);
    struct.write(digits.padStart(64, "0"), at, "hex");
  };
  const digestOf = (v: Voucher): Uint8Array => {
    word(32, v.channelId);
    word(64, v.payer);
    word(96, v.service);
    word(128, v.cumulativeAmount.toString(16));
    word(160, v.expiry.toString(16));
    envelope.set(keccak256(struct), 34);
    return keccak256(envelope);
  };

  return (v, expected) => {
    try {
      if (!/^0x[0-9a-fA-F]{130}$/.test(v.signature)) return undefined;
      const raw = Buffer.from(v.signature.slice(2), "hex");
      const recovery = raw[64]! >= 27 ? raw[64]! - 27 : raw[64]!;
      if (recovery !== 0 && recovery !== 1) return undefined;
      raw.copy(sig64, 0, 0, 64);
      if (Buffer.compare(sig64.subarray(32, 64), HALF_N) > 0) return undefined;
      const digest = digestOf(v);
      const point = ecc.recover(digest, sig64, recovery as 0 | 1, false);
      if (!point) return undefined;
      const key = expected?.toLowerCase();
      // The common case: the channel's key, already seen: compare points, skip deriving the address.
      const known = key ? points.get(key) : undefined;
      if (known && Buffer.compare(known.point, point) === 0) return known.address;
      const signer = computeAddress(`0x${Buffer.from(point).toString("hex")}`);
      if (key && signer.toLowerCase() === key) {
        if (points.size >= cacheSize) points.delete(points.keys().next().value!);
        points.set(key, { point, address: signer });
      }
      return signer;
    } catch {
      return undefined;
    }
  };
}
