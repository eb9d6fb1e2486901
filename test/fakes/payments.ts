import { DatabaseSync } from "node:sqlite";
import { Wallet } from "ethers";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { voucherSignerRecovery } from "../../adapters/chain/voucher-signer.ts";
import { VOUCHER_TYPES, voucherDomain } from "../../adapters/chain/voucher.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";
import { channelToItem, voucherToJson, type ChannelState, type Voucher } from "../../core/payments/channel.ts";
import { ChannelLocks } from "../../core/payments/channel-lock.ts";
import { channelStateKey } from "../../core/payments/keys.ts";
import { applyEscrowEvent } from "../../core/payments/mirror-channels.ts";
import { authorizePayment, completePayment, type PaymentsDeps } from "../../core/payments/paid-calls.ts";
import { encodePaymentSignature, paymentRequired, type PaymentTerms } from "../../core/payments/x402.ts";

/** Test factories of core/payments: usage table, mirrored channels, signed PAYMENT-SIGNATURE headers. */

export const CHAIN_ID = 31337;
export const ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
export const TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
export const SERVICE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

export const TERMS: PaymentTerms = { chainId: CHAIN_ID, escrow: ESCROW, asset: TOKEN, payTo: SERVICE, horizonSeconds: 120, maxTimeoutSeconds: 60 };

export function paymentsDeps(overrides: Partial<PaymentsDeps> = {}) {
  const db = new DatabaseSync(":memory:");
  const usage = new SqliteTableStore(db, "usage", { stream: true });
  const clock = new FakeClock();
  const deps: PaymentsDeps = { usage, clock, terms: TERMS, epochSeconds: 60, recoverSigner: voucherSignerRecovery(CHAIN_ID, ESCROW), locks: new ChannelLocks(), ...overrides };
  return { deps, usage, clock, db };
}

/** A payer wallet with a mirrored channel of `deposit` to the service. */
export async function openChannel(deps: PaymentsDeps, deposit: bigint, payer = Wallet.createRandom()): Promise<{ payer: Wallet | ReturnType<typeof Wallet.createRandom>; channel: ChannelState }> {
  const channelId = `0x${Buffer.from(payer.address.slice(2) + "00".repeat(12), "hex").toString("hex").padEnd(64, "0")}`.toLowerCase();
  const channel: ChannelState = { channelId, payer: payer.address, signer: payer.address, service: SERVICE, deposit, redeemed: 0n, withdrawal: null, block: 1, logIndex: 0 };
  await deps.usage.put({ ...channelStateKey(channelId), kind: "channel", ...channelToItem(channel) });
  return { payer, channel };
}

export interface SignOptions {
  chainId?: number;
  escrow?: string;
  /** The network and escrow the payload claims (default: those signed for). */
  acceptedNetwork?: string;
  acceptedEscrow?: string;
  expiry?: number;
  signer?: { signTypedData: Wallet["signTypedData"] };
}

/** Signs a voucher for `cumulative` on `channel` and wraps it as a PAYMENT-SIGNATURE header. */
export async function paymentHeader(payer: { address: string; signTypedData: Wallet["signTypedData"] }, channel: ChannelState, cumulative: bigint, nowMs: number, o: SignOptions = {}): Promise<{ header: string; voucher: Voucher }> {
  const chainId = o.chainId ?? CHAIN_ID;
  const escrow = o.escrow ?? ESCROW;
  const voucher = { channelId: channel.channelId, payer: payer.address, service: channel.service, cumulativeAmount: cumulative, expiry: o.expiry ?? Math.floor(nowMs / 1000) + 3600 };
  const signature = await (o.signer ?? payer).signTypedData(voucherDomain(chainId, escrow), VOUCHER_TYPES, voucher);
  const signed: Voucher = { ...voucher, signature };
  const accepted = paymentRequired({
    terms: { ...TERMS, chainId, escrow },
    error: "payment-required",
    resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" },
    price: { perCall: "0", perThousandOutputTokens: "0" },
    maxTokens: 0,
    amount: 0n,
    nowSeconds: Math.floor(nowMs / 1000),
  }).accepts[0]!;
  const claimed = { ...accepted, network: (o.acceptedNetwork ?? accepted.network) as `${string}:${string}`, extra: { ...accepted.extra, escrow: o.acceptedEscrow ?? escrow } };
  return { header: encodePaymentSignature(claimed, voucherToJson(signed)), voucher: signed };
}

/** The price the charged-channel fixture's call pays: 1000 per call + 20 per output token. */
export const FIXTURE_PRICE = { perCall: "1000", perThousandOutputTokens: "20000" };

/**
 * A channel (deposit 1,000,000) with one call charged on it: 1000 + 8 tokens × 20 = 1160, under a
 * voucher of 2280. `event` applies an escrow event to the mirror (blocks counted from 2).
 */
export async function chargedChannel() {
  const t = paymentsDeps();
  const { payer, channel } = await openChannel(t.deps, 1_000_000n);
  const { header } = await paymentHeader(payer, channel, 2280n, t.clock.now());
  const d = await authorizePayment(t.deps, { requestId: "r1", price: FIXTURE_PRICE, maxTokens: 64, resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" }, paymentHeader: header });
  if (!d.ok) throw new Error(d.reason);
  await completePayment(t.deps, d.grant, { adapterId: "ad_1", baseModel: "tiny", owner: null, promptTokens: 4, completionTokens: 8, finishReason: "stop", attribution: { method: "none", contributors: [] } });
  let block = 2;
  const event = (e: Record<string, unknown>) => applyEscrowEvent(t.usage, { block: block++, logIndex: 0, channelId: channel.channelId, ...e } as never);
  return { ...t, payer, channel, event };
}
