/**
 * Payments benchmark: CPU cost of verifying a voucher off chain, per call
 * (the budget: under 1 ms), and of the whole service-side payment
 * path of a call on the local adapters.
 *
 *   npm run bench:payments                 # 7 rounds of 2,000 vouchers
 *   BENCH_ROUNDS=11 BENCH_CALLS=5000 npm run bench:payments
 *
 * Times are CPU time of this process (process.cpuUsage: user + system), so
 * other load on the machine does not inflate them; wall time is printed too.
 * Measured per round (median of the rounds, min–max):
 *   parse    decode PAYMENT-SIGNATURE (base64 JSON, zod) only
 *   policy   checkVoucher with a signer lookup that does no cryptography (the baseline)
 *   verify   parse + checkVoucher with secp256k1 recovery of the EIP-712 signer: what a call pays
 *            (adapters/chain/voucher-signer.ts: libsecp256k1 in WASM, hash-wasm keccak, cached channel key)
 *   noble    the same with the previous recovery (noble-curves in JS bigints, keccak in JS), on a tenth of the
 *            vouchers: the baseline the verifier is compared against
 *   call     authorizePayment + completePayment on an in-memory SQLite usage table (reads, hold, charge, record)
 */
import { DatabaseSync } from "node:sqlite";
import { cpus, loadavg } from "node:os";
import { secp256k1 } from "@noble/curves/secp256k1";
import { computeAddress, getAddress, getBytes, id, keccak256, TypedDataEncoder, Wallet } from "ethers";
import { VOUCHER_TYPES, voucherDomain } from "../adapters/chain/voucher.ts";
import type { Voucher } from "../core/payments/channel.ts";
import { SqliteTableStore } from "../adapters/local/sqlite-table-store.ts";
import { voucherSignerRecovery } from "../adapters/chain/voucher-signer.ts";
import { ChannelLocks } from "../core/payments/channel-lock.ts";
import { checkVoucher } from "../core/payments/voucher-policy.ts";
import { authorizePayment, completePayment, type PaymentsDeps } from "../core/payments/paid-calls.ts";
import { parsePaymentSignature } from "../core/payments/x402.ts";
import { CHAIN_ID, ESCROW, openChannel, paymentHeader, TERMS } from "../test/fakes/payments.ts";
import { fmtNum, fmtSummary, summarize } from "./stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const PRICE = { perCall: "1000", perThousandOutputTokens: "20000" };
const MAX = 1000n + 64n * 20n;

const now = Date.now();
const usage = new SqliteTableStore(new DatabaseSync(":memory:"), "usage", { stream: true });
const recover = voucherSignerRecovery(CHAIN_ID, ESCROW);
const deps: PaymentsDeps = { usage, clock: { now: () => now }, terms: TERMS, epochSeconds: 60, recoverSigner: recover, locks: new ChannelLocks() };
const payer = Wallet.createRandom();
const { channel } = await openChannel(deps, 10n ** 30n, payer);

// Vouchers of successive calls that each generate all 64 tokens: cumulative = (i + 1) × max.
process.stdout.write(`signing ${CALLS} vouchers… `);
const headers: string[] = [];
for (let i = 0; i < CALLS; i++) headers.push((await paymentHeader(payer, channel, BigInt(i + 1) * MAX, now)).header);
console.log("done");

const perCall = (cpuMicros: number) => cpuMicros / CALLS;
const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
let wallVerifyMs = 0;
const policyInput = (i: number, recoverSigner: PaymentsDeps["recoverSigner"]) => {
  const p = parsePaymentSignature(headers[i]!);
  if (!p.ok) throw new Error(p.reason);
  return { voucher: p.voucher, accepted: p.accepted, chainId: CHAIN_ID, escrow: ESCROW, service: TERMS.payTo, channel, charged: BigInt(i) * MAX, maxCost: MAX, nowSeconds: Math.floor(now / 1000), horizonSeconds: TERMS.horizonSeconds, recoverSigner };
};
// The recovery this verifier replaced (noble-curves + ethers keccak, as of c21df25^), kept here as the baseline.
const nobleRecover = (() => {
  const ds = TypedDataEncoder.hashDomain(voucherDomain(CHAIN_ID, ESCROW)).slice(2);
  const th = id(TypedDataEncoder.from(VOUCHER_TYPES).encodeType("Voucher")).slice(2);
  const w = (hex: string) => hex.slice(2).toLowerCase().padStart(64, "0");
  return (v: Voucher) => {
    const struct = keccak256(`0x${th}${w(v.channelId)}${w(v.payer)}${w(v.service)}${v.cumulativeAmount.toString(16).padStart(64, "0")}${v.expiry.toString(16).padStart(64, "0")}`);
    const digest = getBytes(keccak256(`0x1901${ds}${struct.slice(2)}`));
    const b = getBytes(v.signature);
    const r = BigInt(`0x${Buffer.from(b.subarray(0, 32)).toString("hex")}`);
    const s = BigInt(`0x${Buffer.from(b.subarray(32, 64)).toString("hex")}`);
    const pub = new secp256k1.Signature(r, s).addRecoveryBit(b[64]! - 27).recoverPublicKey(digest);
    return getAddress(computeAddress(`0x${pub.toHex(false)}`));
  };
})();
const NOBLE_CALLS = Math.max(1, Math.floor(CALLS / 10));
const rounds = { parse: [] as number[], policy: [] as number[], verify: [] as number[], noble: [] as number[], call: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  let t = cpuNow();
  for (let i = 0; i < CALLS; i++) if (!parsePaymentSignature(headers[i]!).ok) throw new Error("parse");
  rounds.parse.push(perCall(cpuNow() - t));

  t = cpuNow();
  for (let i = 0; i < CALLS; i++) if (!checkVoucher(policyInput(i, () => payer.address)).ok) throw new Error("policy");
  rounds.policy.push(perCall(cpuNow() - t));

  t = cpuNow();
  const wall = performance.now();
  for (let i = 0; i < CALLS; i++) if (!checkVoucher(policyInput(i, recover)).ok) throw new Error("verify");
  rounds.verify.push(perCall(cpuNow() - t));
  wallVerifyMs += performance.now() - wall;

  t = cpuNow();
  for (let i = 0; i < NOBLE_CALLS; i++) if (!checkVoucher(policyInput(i, nobleRecover)).ok) throw new Error("noble");
  rounds.noble.push((cpuNow() - t) / NOBLE_CALLS);

  // A fresh channel ledger per round: the same vouchers are good again.
  await usage.delete({ pk: `CHANNEL#${channel.channelId}`, sk: "LEDGER" });
  t = cpuNow();
  for (let i = 0; i < CALLS; i++) {
    const d = await authorizePayment(deps, { requestId: `r${r}-${i}`, price: PRICE, maxTokens: 64, resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" }, paymentHeader: headers[i]! });
    if (!d.ok) throw new Error(`${d.reason}`);
    await completePayment(deps, d.grant, { adapterId: "ad_1", baseModel: "tiny", owner: TERMS.payTo, promptTokens: 8, completionTokens: 64, finishReason: "stop", attribution: { method: "static", contributors: [] } });
  }
  rounds.call.push(perCall(cpuNow() - t));
}

const s = { parse: summarize(rounds.parse), policy: summarize(rounds.policy), verify: summarize(rounds.verify), noble: summarize(rounds.noble), call: summarize(rounds.call) };
console.log(`\nNode ${process.version}, ${cpus()[0]?.model ?? "?"} (${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}), ${ROUNDS} rounds × ${CALLS} calls; CPU µs per call, median (min–max)\n`);
console.log("| step | µs per call | vs. policy |");
console.log("| --- | ---: | ---: |");
for (const k of ["parse", "policy", "verify", "noble", "call"] as const) console.log(`| ${k} | ${fmtSummary(s[k], 1)} | ${fmtNum(s[k].median / s.policy.median, 1)}× |`);
const budget = 1000;
console.log(
  `\nVerification (parse + policy + signature recovery) takes ${fmtNum(s.verify.median, 1)} µs per call, ${fmtNum((100 * s.verify.median) / budget, 1)}% of the 1 ms budget; ` +
    `recovering the signer is ${fmtNum((100 * (s.verify.median - s.policy.median)) / s.verify.median, 0)}% of it. ` +
    `The previous noble-curves recovery took ${fmtNum(s.noble.median, 1)} µs in the same run, ${fmtNum(s.noble.median / s.verify.median, 1)}× as long. ` +
    `The whole payment path of a call on SQLite (verify, hold the channel, charge, write the usage record) takes ${fmtNum(s.call.median, 1)} µs of CPU. ` +
    `Wall time of verification, for comparison: ${fmtNum((wallVerifyMs * 1000) / (ROUNDS * CALLS), 1)} µs per call on average.`,
);
