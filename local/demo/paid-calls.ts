import { join } from "node:path";
import { formatUnits } from "ethers";
import { FileChannelStore } from "../../client/channel-store.ts";
import { EscrowClient } from "../../client/escrow.ts";
import { PayingClient, type Receipt } from "../../client/paying-client.ts";
import type { Rewards } from "../../core/payments/rewards.ts";
import type { DevClient } from "../dev-client.ts";
import type { Platform } from "../platform.ts";

/**
 * The demo's pay-per-call step, as a user of the paying client would do it:
 * the owner prices the new adapter, a payer wallet (a funded development
 * account of the local chain) gets test tokens, the client pays a few calls
 * (opening and funding its channel on the first 402), and once the period
 * is settled each account's claimable earnings are printed.
 */

/** The demo adapter's price: 0.001 tUSD per call + 0.02 tUSD per 1 000 output tokens. */
export const DEMO_PRICE = { perCall: "1000", perThousandOutputTokens: "20000" };
const QUESTIONS = ["What is the capital of Peru?", "What is the capital of Japan?", "What is the capital of Kenya?"];
const tusd = (units: bigint | string) => `${formatUnits(BigInt(units), 6)} tUSD`;

export interface DemoPayments {
  payer: string;
  channelId: string;
  /** What the calls were charged in total, base units. */
  charged: bigint;
  /** Resolves once the calls' period is settled, having printed each account's earnings. */
  settled: Promise<void>;
}

export async function payForDemoCalls(
  platform: Platform,
  dataDir: string,
  owner: DevClient,
  adapterId: string,
  accounts: { label: string; address: string; client: DevClient }[],
): Promise<DemoPayments> {
  const t0 = Date.now();
  await owner.request("PUT", `/v1/adapters/${adapterId}/price`, DEMO_PRICE);
  console.log(`    priced ${adapterId}: ${tusd(DEMO_PRICE.perCall)} per call + ${tusd(DEMO_PRICE.perThousandOutputTokens)} per 1 000 output tokens`);

  // Development account 1 has gas; the test token is free to mint on the local chain.
  const payer = platform.chain.accounts[0]!;
  const escrow = new EscrowClient(payer, platform.chain.addresses.paymentEscrow, platform.chain.addresses.token);
  await escrow.mintTestTokens(20_000_000n);
  console.log(`    payer ${payer.address} funded: ${tusd(await escrow.balance())}`);

  const receipts: Receipt[] = [];
  const client = new PayingClient({
    baseURL: platform.url,
    payer,
    store: new FileChannelStore(join(dataDir, "demo-payer-channels.json")),
    deposit: 5_000_000n,
    onReceipt: (r) => receipts.push(r),
    log: (line) => console.log(`    client: ${line}`),
  });
  const openai = client.openai();
  for (const question of QUESTIONS) {
    const r = await openai.chat.completions.create({ model: adapterId, messages: [{ role: "user", content: question }], max_tokens: 32, temperature: 0 });
    const paid = receipts.at(-1);
    console.log(`    paid call "${question}" → "${r.choices[0]?.message.content?.trim()}" (${r.usage?.completion_tokens} tokens, charged ${paid ? tusd(paid.charged) : "?"})`);
  }
  const last = receipts.at(-1)!;
  console.log(`    ${receipts.length} paid calls, ${tusd(last.cumulativeCharged)} charged on channel ${last.channelId}; no transaction per call: settlement redeems it at the epoch's end`);
  console.log(`    (the pay-per-call step took ${((Date.now() - t0) / 1000).toFixed(1)} s)`);

  const settled = (async () => {
    const started = Date.now();
    // The calls' period ends at the next epoch boundary; settlement runs after its grace (60 s + 10 s locally by default).
    for (;;) {
      const channel = await escrow.channel(last.channelId);
      if (channel && channel.redeemed >= last.cumulativeCharged) break;
      if (Date.now() - started > 180_000) {
        console.log("    the demo's calls were not settled within 3 minutes; see GET /v1/rewards/{address} later");
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    await platform.idle(10_000); // the rewards rows of the epoch land with its publication
    console.log(`\n  Demo epoch settled after ${((Date.now() - started) / 1000).toFixed(0)} s: ${tusd(last.cumulativeCharged)} redeemed on chain and split. Claimable now:`);
    for (const a of accounts) {
      const rewards = await a.client.request<Rewards>("GET", `/v1/rewards/${a.address}`);
      const epochs = rewards.epochs.map((e) => `epoch ${e.epoch}`).join(", ") || "no epoch yet";
      console.log(`    ${a.label.padEnd(12)} ${a.address}: ${tusd(rewards.totals.claimable)} claimable (${epochs}), ${tusd(rewards.totals.pending)} pending`);
    }
    console.log(`    (GET /v1/rewards/{address} serves each epoch's Merkle proof for RewardsDistributor.claim)\n`);
  })();
  return { payer: payer.address, channelId: last.channelId, charged: last.cumulativeCharged, settled };
}
