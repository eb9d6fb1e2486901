import { verifyTypedData } from "ethers";
import type { Voucher } from "../../core/payments/channel.ts";
import { VOUCHER_TYPES, voucherDomain } from "./voucher.ts";

/**
 * Recovery of a voucher's signer under one escrow's EIP-712 domain: the one
 * costly step of off-chain verification (secp256k1 recovery), injected into
 * core/payments so the domain code stays free of ethers.
 */
export function voucherSignerRecovery(chainId: number, escrow: string): (v: Voucher) => string | undefined {
  const domain = voucherDomain(chainId, escrow);
  return (v) => {
    try {
      return verifyTypedData(domain, VOUCHER_TYPES, { channelId: v.channelId, payer: v.payer, service: v.service, cumulativeAmount: v.cumulativeAmount, expiry: v.expiry }, v.signature);
    } catch {
      return undefined;
    }
  };
}
