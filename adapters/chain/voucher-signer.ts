import type { Voucher } from "../../core/payments/channel.ts";
import { recoverVoucherSigner, voucherDomain } from "./voucher.ts";

/**
 * Recovery of a voucher's signer under one escrow's EIP-712 domain: the one
 * costly step of off-chain verification (secp256k1 recovery), injected into
 * core/payments so the domain code stays free of ethers.
 */
export function voucherSignerRecovery(chainId: number, escrow: string): (v: Voucher) => string | undefined {
  const domain = voucherDomain(chainId, escrow);
  return (v) => {
    try {
      return recoverVoucherSigner(domain, v, v.signature);
    } catch {
      return undefined;
    }
  };
}
