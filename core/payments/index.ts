export { BaseUnits, Price, FREE, isFree, callCost, maxCallCost } from "./prices.ts";
export { VoucherJson, voucherFromJson, voucherToJson, channelFromItem, channelToItem, type ChannelState, type Voucher } from "./channel.ts";
export { checkVoucher, VoucherRejections, type VoucherCheck, type VoucherPolicyInput, type VoucherRejection } from "./voucher-policy.ts";
export { SCHEME, X402_VERSION, Headers402, paymentRequired, encodePaymentRequired, parsePaymentSignature, encodePaymentSignature, encodePaymentResponse, type PaymentTerms, type PaymentReceipt } from "./x402.ts";
export { ChannelLocks, ChannelBusyError } from "./channel-lock.ts";
export { readLedger, type ChannelLedger } from "./channel-ledger.ts";
export { authorizePayment, completePayment, abandonPayment, recordFreeCall, chargeFor, periodOf, type PaymentsDeps, type PaymentGrant, type PaymentDecision, type CallTerms, type CallOutcome } from "./paid-calls.ts";
export { UsageRecord, findUsage, getUsage, listUsage, usageFromItem, type ListUsageInput } from "./usage.ts";
export * from "./keys.ts";
