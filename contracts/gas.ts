/**
 * Measures the gas of the operations that recur at scale (a reward claim, a
 * voucher redeemed in a batch, a registration) on an in-process EDR chain,
 * and what settlement costs per paid call. `npm run contracts:gas` prints
 * them and rewrites the "Gas" and "Settlement gas" sections of
 * docs/benchmarks.md:
 *
 *   npm run contracts:gas -- [--gas-price-gwei 1] [--eth-usd 3000] [--channels 100,1000]
 */
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { id, parseEther, toBeHex, Wallet, type Contract, type HDNodeWallet } from "ethers";
import { datanetKey, attributionFingerprint } from "../core/chain/fingerprint.ts";
import { buildRewardsTree } from "../adapters/chain/rewards-tree.ts";
import { MAX_REDEMPTIONS_PER_TX, redeemArg, redemptionBatches, signVoucher, voucherDomain, type SignedVoucher } from "../adapters/chain/voucher.ts";
import { deployFixture, mined, type Fixture } from "./test-fixture.ts";

/** Osaka's per-transaction gas cap (EIP-7825), which EDR enforces: a batch above it must be split. */
export const TX_GAS_CAP = 16_777_216;

/** Redeeming `channels` channels' vouchers, split into as few transactions as the cap allows. */
export interface SettlementGas {
  channels: number;
  /** A channel's first redemption (its redeemed total goes from zero: a fresh storage write). */
  first: { transactions: number; gas: number; perChannel: number };
  /** Every later epoch's redemption of the same channels (the case that recurs). */
  steady: { transactions: number; gas: number; perChannel: number };
}

export interface GasReport {
  /** A claim paying an account that held none of the token yet (a fresh storage slot for its balance). */
  claimFirstTime: number;
  /** A claim paying an account that already held the token. */
  claimHolder: number;
  /** Accounts in the rewards tree (its depth sets the proof length). */
  treeSize: number;
  redeemBatchOf100: number;
  perVoucherInBatchOf100: number;
  redeemSingle: number;
  createDatanet: number;
  publishVersion: number;
  registerAdapter: number;
  setPrice: number;
  publishEpoch: number;
  /** A plain ERC-20 transfer to a holder: the floor of paying on chain once per call (x402's exact scheme). */
  tokenTransfer: number;
  settlement: SettlementGas[];
}

export interface MeasureOptions {
  /** Accounts in the rewards tree. */
  treeSize?: number;
  /** Channel counts of the settlement batches to measure. */
  channels?: number[];
}

/** Runs every measurement on a fresh chain. */
export async function measureGas(options: MeasureOptions = {}): Promise<GasReport> {
  const treeSize = options.treeSize ?? 1000;
  const f = await deployFixture();
  try {
    const [admin, service, owner] = f.chain.wallets as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
    const provider = f.chain.provider;
    const token = f.contract("TestToken");

    // Registrations: a Datanet, a version, an adapter trained on two versions.
    const datanets = f.contract("DatanetRegistry");
    const [dnA, dnB] = [datanetKey("dn_A"), datanetKey("dn_B")];
    const createDatanet = Number((await mined(datanets.createDatanet!(dnA, owner.address, "ipfs://bafy-metadata"))).gasUsed);
    await mined(datanets.createDatanet!(dnB, owner.address, "ipfs://bafy-metadata"));
    const publishVersion = Number((await mined(datanets.publishVersion!(dnA, 1, id("rootA"), 120_000, 31_000_000, "ipfs://bafy-manifest"))).gasUsed);
    await mined(datanets.publishVersion!(dnB, 1, id("rootB"), 5_000, 900_000, "ipfs://bafy-manifest"));
    const binding = {
      baseModelHash: id("base"),
      weightsHash: id("weights"),
      trainingConfigHash: id("config"),
      sources: [
        { datanetId: dnA, version: 1, root: id("rootA"), weightBps: 7000 },
        { datanetId: dnB, version: 1, root: id("rootB"), weightBps: 3000 },
      ].sort((a, b) => (BigInt(a.datanetId) < BigInt(b.datanetId) ? -1 : 1)),
    };
    const registerAdapter = Number(
      (await mined(f.contract("AdapterRegistry").register!({ ...binding, owner: owner.address, pricePerCall: 2000n, pricePerThousandOutputTokens: 500n, uri: "s3://adapters/" + attributionFingerprint(binding) }))).gasUsed,
    );
    const setPrice = Number((await mined(f.contract("AdapterRegistry").setPrice!(attributionFingerprint(binding), 3000n, 700n))).gasUsed);
    // Both hold the token already (a warm balance on each side), as a paying client and a service do.
    await mined(token.mint!(admin.address, 10n));
    await mined(token.mint!(owner.address, 10n));
    const tokenTransfer = Number((await mined(token.transfer!(owner.address, 1n))).gasUsed);

    // 100 payers, each with a channel to the service and a voucher.
    const payers = Array.from({ length: 100 }, () => Wallet.createRandom().connect(provider));
    const domain = voucherDomain(f.chain.chainId, f.addresses.paymentEscrow);
    const expiry = (await provider.getBlock("latest"))!.timestamp + 3600;
    const vouchers: SignedVoucher[] = [];
    for (const p of payers) {
      await provider.send("hardhat_setBalance", [p.address, toBeHex(parseEther("1"))]);
      await mined(token.mint!(p.address, 10_000_000n));
      await mined(f.contract("TestToken", p).approve!(f.addresses.paymentEscrow, 10_000_000n));
      await mined(f.contract("PaymentEscrow", p).open!(service.address, p.address, id("salt"), 10_000_000n));
      const channelId = await f.contract("PaymentEscrow").channelIdOf!(p.address, service.address, id("salt"));
      vouchers.push(await signVoucher(p, domain, { channelId, payer: p.address, service: service.address, cumulativeAmount: 1_000n, expiry }));
    }
    const escrow = f.contract("PaymentEscrow", service);
    // One voucher alone first (warms the service's token balance slot, as a running service's is).
    const redeemSingle = Number((await mined(escrow.redeem!([redeemArg(vouchers[0]!, 1_000n)], service.address))).gasUsed);
    const later = await Promise.all(vouchers.map((v) => signVoucher(payers[vouchers.indexOf(v)]!, domain, { ...v, cumulativeAmount: 2_000n })));
    const redeemBatchOf100 = Number((await mined(escrow.redeem!(later.map((v) => redeemArg(v, 2_000n)), service.address))).gasUsed);

    // Rewards: an epoch of `treeSize` accounts funded from redeemed fees.
    const accounts = Array.from({ length: treeSize }, (_, i) => ({ account: Wallet.createRandom().address, amount: BigInt(1000 + i) }));
    accounts[0] = { account: admin.address, amount: 1000n }; // admin already holds tokens
    const tree = buildRewardsTree(accounts);
    await mined(token.mint!(f.addresses.rewardsDistributor, tree.total * 2n));
    const rewards = f.contract("RewardsDistributor");
    const { contributorsBps, ownersBps } = await rewards.shares!();
    const fees = (tree.total * 10_000n) / (contributorsBps + ownersBps);
    const publishEpoch = Number((await mined(rewards.publishEpoch!(1, tree.root, fees))).gasUsed);
    const first = accounts[1]!;
    const claimFirstTime = Number((await mined(rewards.claim!(1, first.account, first.amount, tree.claims.get(first.account)!.proof))).gasUsed);
    const claimHolder = Number((await mined(rewards.claim!(1, admin.address, 1000n, tree.claims.get(admin.address)!.proof))).gasUsed);

    const settlement: SettlementGas[] = [];
    for (const n of options.channels ?? [100, 1000]) settlement.push(await measureSettlement(f, service, n));

    return {
      setPrice,
      publishEpoch,
      tokenTransfer,
      settlement,
      claimFirstTime,
      claimHolder,
      treeSize,
      redeemBatchOf100,
      perVoucherInBatchOf100: Math.round(redeemBatchOf100 / 100),
      redeemSingle,
      createDatanet,
      publishVersion,
      registerAdapter,
    };
  } finally {
    await f.close();
  }
}

/**
 * Opens `n` channels to `service` (one funder, a signing key per channel, as
 * many payers would), then redeems a voucher of each twice (the channel's
 * first epoch, then a later one), in as few transactions as TX_GAS_CAP allows.
 */
async function measureSettlement(f: Fixture, service: HDNodeWallet, n: number): Promise<SettlementGas> {
  const funder = Wallet.createRandom().connect(f.chain.provider);
  await f.chain.provider.send("hardhat_setBalance", [funder.address, toBeHex(parseEther("100"))]);
  const token = f.contract("TestToken");
  await mined(token.mint!(funder.address, BigInt(n) * 1_000_000n));
  await mined(f.contract("TestToken", funder).approve!(f.addresses.paymentEscrow, BigInt(n) * 1_000_000n));
  const asFunder = f.contract("PaymentEscrow", funder);
  const domain = voucherDomain(f.chain.chainId, f.addresses.paymentEscrow);
  const expiry = (await f.chain.provider.getBlock("latest"))!.timestamp + 86_400;
  const channels: { channelId: string; key: Wallet }[] = [];
  for (let i = 0; i < n; i++) {
    const salt = id(`settlement-${n}-${i}`);
    const key = new Wallet(id(`key-${n}-${i}`));
    await mined(asFunder.open!(service.address, key.address, salt, 1_000_000n));
    channels.push({ channelId: await asFunder.channelIdOf!(funder.address, service.address, salt), key });
  }
  const escrow = f.contract("PaymentEscrow", service);
  const round = async (max: bigint, charged: bigint) => {
    const items = await Promise.all(
      channels.map(async ({ channelId, key }) =>
        redeemArg(await signVoucher(key, domain, { channelId, payer: funder.address, service: service.address, cumulativeAmount: max, expiry }), charged),
      ),
    );
    return redeemInChunks(escrow, items, service.address);
  };
  const first = await round(5_000n, 1_200n);
  const steady = await round(9_000n, 3_400n);
  return { channels: n, first: { ...first, perChannel: Math.round(first.gas / n) }, steady: { ...steady, perChannel: Math.round(steady.gas / n) } };
}

/** Sends `items` to redeem in batches of MAX_REDEMPTIONS_PER_TX, as settlement does; each must fit under the cap. */
async function redeemInChunks(escrow: Contract, items: unknown[], to: string): Promise<{ transactions: number; gas: number }> {
  let gas = 0;
  let transactions = 0;
  for (const chunk of redemptionBatches(items)) {
    const receipt = await mined(escrow.redeem!(chunk, to, { gasLimit: TX_GAS_CAP }));
    gas += Number(receipt.gasUsed);
    transactions++;
  }
  return { transactions, gas };
}

/** The "Gas" section of docs/benchmarks.md for a report. */
export function gasSection(r: GasReport): string {
  const k = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1000).toFixed(1)}k`);
  return `## Gas

Measured by \`npx node contracts/gas.ts\` on Hardhat EDR 0.22 (in-process,
Osaka rules; bytecode from solc 0.8.37 for Cancun, optimizer at 200 runs).
Gas is deterministic, so these numbers hold on any EVM chain with the same
fork rules; the cost in money is gas × the chain's gas price. Each figure is
a whole transaction's \`gasUsed\`: the 21k base cost and calldata included.

| operation | gas | note |
| --- | ---: | --- |
| \`RewardsDistributor.claim\`, first-time recipient | ${k(r.claimFirstTime)} | tree of ${r.treeSize} accounts (proof of ${Math.ceil(Math.log2(r.treeSize))} hashes); the recipient's token balance goes from zero |
| \`RewardsDistributor.claim\`, recipient already holding the token | ${k(r.claimHolder)} | same tree |
| Uniswap merkle-distributor \`claim\` (reference) | 63k–92k | published figure; a bitmap by index, no per-epoch cap |
| \`PaymentEscrow.redeem\`, batch of 100 payers | ${k(r.redeemBatchOf100)} | one token transfer for the batch |
| per voucher in that batch | ${k(r.perVoucherInBatchOf100)} | EIP-712 digest + ecrecover + one channel slot |
| \`PaymentEscrow.redeem\`, a single voucher | ${k(r.redeemSingle)} | what batching saves: the base cost and the transfer |
| \`AdapterRegistry.setPrice\` (per call and per 1 000 output tokens) | ${k(r.setPrice)} | by the registrar, recording a price set through the API |
| \`RewardsDistributor.publishEpoch\` | ${k(r.publishEpoch)} | root, allocation, and the platform's share paid to the treasury |
| \`DatanetRegistry.createDatanet\` (by the registrar) | ${k(r.createDatanet)} | owner, curator grant, metadata URI |
| \`DatanetRegistry.publishVersion\` | ${k(r.publishVersion)} | root + packed (records, tokens, time); manifest URI only in the event |
| \`AdapterRegistry.register\`, 2 source versions | ${k(r.registerAdapter)} | binding stored, fingerprint computed and each source root checked on chain |

A claim by a token holder ${r.claimHolder <= 92_000 ? "falls inside" : "is above"} Uniswap's range; a first-time
recipient costs ${k(r.claimFirstTime - 92_000)} more than Uniswap's upper figure. Where it goes:
each claim also updates the epoch's claimed total (≈5k: claims of an epoch
are capped at its allocation, so a bad root can never drain other epochs'
money) and the global allocated sum (≈5k: so fees redeemed into the
distributor and not yet given to an epoch are known on chain), and it marks
the claim in a mapping keyed by account (a fresh slot, ≈22k) where Uniswap
flips a bit in a shared bitmap word, because our leaves are
\`(address, uint256)\` without an index. The reentrancy guards use transient
storage (EIP-1153), which saved ≈2k per claim and per batch.
`;
}

/** What gas costs in money: a stated gas price and ETH price. */
export interface CostAssumptions {
  gasPriceGwei: number;
  ethUsd: number;
  /** The call price the on-chain cost is compared with. */
  callUsd: number;
}

/** An L2 of Base's kind (about 0.01 gwei), ETH at $3,000, a $0.01 call. */
export const DEFAULT_COST: CostAssumptions = { gasPriceGwei: 0.01, ethUsd: 3000, callUsd: 0.01 };

/** Gas that settlement spends per paid call: the channel's share of its batch plus its share of the epoch's publication. */
export function gasPerPaidCall(s: SettlementGas, publishEpoch: number, callsPerChannel: number): number {
  return (s.steady.gas + publishEpoch) / (s.channels * callsPerChannel);
}

/** USD for `gas` at the assumptions. */
export function usdOf(gas: number, c: CostAssumptions): number {
  return gas * c.gasPriceGwei * 1e-9 * c.ethUsd;
}

/** The "Settlement gas" section of docs/benchmarks.md: gas and cost per paid call. */
export function settlementSection(r: GasReport, c: CostAssumptions = DEFAULT_COST): string {
  const k = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1000).toFixed(1)}k`);
  const pct = (usd: number) => `${((100 * usd) / c.callUsd).toFixed(usd / c.callUsd < 0.001 ? 4 : 2)}%`;
  const usd = (x: number) => `$${x < 0.001 ? x.toExponential(2) : x.toFixed(4)}`;
  const callsPerChannel = [1, 10, 100];
  const rows = r.settlement.flatMap((s) =>
    callsPerChannel.map((calls) => {
      const gas = gasPerPaidCall(s, r.publishEpoch, calls);
      return `| ${s.channels.toLocaleString("en-US")} | ${calls} | ${k(gas)} | ${usd(usdOf(gas, c))} | ${pct(usdOf(gas, c))} |`;
    }),
  );
  const batches = r.settlement.map(
    (s) =>
      `| ${s.channels.toLocaleString("en-US")} | ${s.first.transactions} | ${k(s.first.gas)} | ${k(s.first.perChannel)} | ${s.steady.transactions} | ${k(s.steady.gas)} | ${k(s.steady.perChannel)} |`,
  );
  const worst = r.settlement.map((s) => gasPerPaidCall(s, r.publishEpoch, 1));
  const worstGas = Math.max(...worst);
  // Gas a paid call may use to stay under 1% of the call at these prices, and the calls per channel per epoch that takes.
  const budgetGas = (0.01 * c.callUsd) / (c.gasPriceGwei * 1e-9 * c.ethUsd);
  const callsNeeded = Math.ceil(worstGas / budgetGas);
  const breakEvenGwei = (0.01 * c.callUsd) / (worstGas * 1e-9 * c.ethUsd);
  const transferUsd = usdOf(r.tokenTransfer, c);
  const largest = r.settlement.at(-1)!;
  const perTx = Math.floor((TX_GAS_CAP * 0.95) / largest.steady.perChannel);
  return `## Settlement gas

What settling pay-per-call costs on chain, measured by \`npm run contracts:gas\`
(EDR 0.22, Osaka rules) from the run's own receipts. Each channel's latest
voucher settles every call it paid for in the epoch, so the gas per paid call
is (the batch's gas + one \`publishEpoch\`) ÷ (channels × calls per channel).
Claims are not in it: each contributor pays its own claim
(${k(r.claimHolder)}–${k(r.claimFirstTime)} gas, ${usd(usdOf(r.claimHolder, c))}–${usd(usdOf(r.claimFirstTime, c))} at the price below) once per claim,
and \`claimMany\` claims many epochs in one transaction.

Redemption, per batch (Osaka caps one transaction at ${TX_GAS_CAP.toLocaleString("en-US")} gas, EIP-7825; a batch above it is split):

| channels | first epoch: txs | gas | per channel | later epochs: txs | gas | per channel |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${batches.join("\n")}

Cost per paid call at **${c.gasPriceGwei} gwei and $${c.ethUsd.toLocaleString("en-US")}/ETH**, against a $${c.callUsd} call:

| channels per batch | calls per channel per epoch | gas per paid call | cost | share of the call |
| ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}

Baseline from the same run: paying on chain per call, as x402's exact
scheme does, costs at least one ERC-20 transfer (${k(r.tokenTransfer)} gas, ${usd(transferUsd)},
${pct(transferUsd)} of the call at these prices; EIP-3009's \`transferWithAuthorization\`
adds a signature check and a nonce slot); the issue's reference for that
scheme is ~11% of a $0.013 call (${usd(0.11 * 0.013)}). Settlement here costs ${k(worstGas)} gas per paid call when
each channel makes one call per epoch (${(worstGas / r.tokenTransfer).toFixed(2)}× the transfer, ${pct(usdOf(worstGas, c))} of the call),
because each channel's redemption checks a signature and updates its slot
whatever its number of calls; it falls with the calls a channel makes per
epoch, and is under 1% of the call from ${callsNeeded} calls per channel per epoch on
(${k(budgetGas)} gas per call at ${c.gasPriceGwei} gwei), or at one call per channel per epoch up to
${breakEvenGwei.toFixed(4)} gwei. With hourly epochs, ${callsNeeded} calls per epoch is one call every
${(60 / callsNeeded).toFixed(1)} minutes on a channel; the 1% goal holds for steady callers, not
for one-off ones. Per channel, a redemption costs the same in its first and
later epochs (${k(largest.first.perChannel)} and ${k(largest.steady.perChannel)}): the redeemed total shares its storage
slot with the deposit, so no slot goes from zero. A batch of
${largest.channels.toLocaleString("en-US")} channels went out as ${largest.steady.transactions} transaction${largest.steady.transactions === 1 ? "" : "s"} of at most
\`MAX_REDEMPTIONS_PER_TX\` = ${MAX_REDEMPTIONS_PER_TX} redemptions (adapters/chain/voucher.ts); at the measured
${k(largest.steady.perChannel)} per channel, 95% of the cap holds ${perTx}.
`;
}

/** Replaces (or appends) the \`## <title>\` section of a markdown file, leaving the other sections as they are. */
export function replaceSection(markdown: string, section: string, title = "Gas"): string {
  const lines = markdown.split("\n");
  const heading = new RegExp(`^## ${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`);
  const start = lines.findIndex((l) => heading.test(l));
  if (start < 0) return `${markdown.trimEnd()}${markdown.trim() ? "\n\n" : ""}${section}`;
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  return [...lines.slice(0, start), ...section.trimEnd().split("\n"), ...(end < lines.length ? ["", ...lines.slice(end)] : [""])].join("\n");
}

/** The "## Gas" section's replacement (kept for callers of the old name). */
export const replaceGasSection = (markdown: string, section: string) => replaceSection(markdown, section, "Gas");

function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number`);
  return n;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cost: CostAssumptions = { gasPriceGwei: numberArg("gas-price-gwei", DEFAULT_COST.gasPriceGwei), ethUsd: numberArg("eth-usd", DEFAULT_COST.ethUsd), callUsd: DEFAULT_COST.callUsd };
  const ci = process.argv.indexOf("--channels");
  const channels = ci > 0 ? process.argv[ci + 1]!.split(",").map(Number) : [100, 1000];
  const report = await measureGas({ channels });
  console.log(JSON.stringify(report, null, 2));
  const path = join(dirname(dirname(fileURLToPath(import.meta.url))), "docs", "benchmarks.md");
  const current = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n";
  writeFileSync(path, replaceSection(replaceSection(current, gasSection(report), "Gas"), settlementSection(report, cost), "Settlement gas"));
  console.log(settlementSection(report, cost));
  console.log(`wrote the Gas and Settlement gas sections of ${path}`);
}
