// The paying client against the real local platform (startPlatform: API, inference child process,
// EDR chain with the contracts, the escrow mirror and settlement on timers): it opens and funds a
// channel by itself on the first 402, pays a plain and a streamed call through the `openai` package,
// keeps its cumulative state in a file across clients, mends a stale idea of the charge from the
// quote, and the epoch's settlement redeems exactly what the receipts said on chain.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addAdapter } from "../containers/inference/test-support.ts";
import { priceKey } from "../core/payments/adapter-prices.ts";
import { startPlatform, type Platform } from "../local/platform.ts";
import { FileChannelStore } from "./channel-store.ts";
import { main } from "./cli.ts";
import { EscrowClient } from "./escrow.ts";
import { PayingClient, type Receipt } from "./paying-client.ts";

let dataDir: string;
let platform: Platform;
const PRICE = { perCall: "1000", perThousandOutputTokens: "20000" };
const question = { role: "user" as const, content: "What is the capital of Peru?" };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "paying-client-"));
  platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT", chainRpcPort: 0, settlement: { epochSeconds: 3, graceSeconds: 1 } });
  await addAdapter(platform.deps.tables, platform.deps.blobs, { id: "ad_paid", promptTemplate: "instruction" });
  await platform.deps.tables.main.put({ ...priceKey("ad_paid"), ...PRICE });
  await platform.inference!.ready();
}, 90_000);

afterAll(async () => {
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("PayingClient on the running platform", () => {
  it("opens a channel on the first 402, pays plain and streamed calls through openai, and settlement redeems what it was charged", { timeout: 90_000 }, async () => {
    const payer = platform.chain.accounts[3]!;
    const statePath = join(dataDir, "client", "channels.json");
    const receipts: Receipt[] = [];
    const client = new PayingClient({ baseURL: platform.url, payer, store: new FileChannelStore(statePath), deposit: 2_000_000n, onReceipt: (r) => receipts.push(r) });
    const openai = client.openai();

    // Act: a plain call (402 → open + fund → voucher → 200)
    const first = await openai.chat.completions.create({ model: "ad_paid", messages: [question], max_tokens: 8, temperature: 0 });
    expect(first.choices[0]!.message.content).toBeTypeOf("string");
    const cost1 = 1000n + (BigInt(first.usage!.completion_tokens) * 20000n + 999n) / 1000n;
    expect(receipts).toEqual([expect.objectContaining({ requestId: first.id, charged: cost1, cumulativeCharged: cost1 })]);
    const [channel] = client.store.list();
    expect(channel).toMatchObject({ payer: payer.address, deposit: "2000000", charged: cost1.toString() });
    expect(statSync(statePath).mode & 0o777).toBe(0o600);

    // a streamed call: the receipt comes in the last chunk, the text passes through untouched
    const stream = await openai.chat.completions.create({ model: "ad_paid", messages: [question], max_tokens: 8, temperature: 0, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).toBe(first.choices[0]!.message.content);
    expect(receipts).toHaveLength(2);
    const cumulative2 = receipts[1]!.cumulativeCharged;
    expect(cumulative2).toBe(cost1 + receipts[1]!.charged);

    // A second client on the same state file pays on the same channel (no new channel); one whose
    // state lost the last receipt is put right by the quote's `channel.charged` and pays too.
    const again = new PayingClient({ baseURL: platform.url, payer, store: new FileChannelStore(statePath), onReceipt: (r) => receipts.push(r) });
    const stale = new FileChannelStore(statePath);
    stale.save({ ...stale.list()[0]!, charged: cost1.toString() });
    await again.openai().chat.completions.create({ model: "ad_paid", messages: [question], max_tokens: 4, temperature: 0 });
    expect(receipts).toHaveLength(3);
    expect(receipts[2]!.cumulativeCharged).toBe(cumulative2 + receipts[2]!.charged);
    expect(new FileChannelStore(statePath).list()).toHaveLength(1);

    // Assess: the escrow has the deposit; settlement redeems the cumulative charge, not the vouchers' maximum
    const escrow = new EscrowClient(payer, channel!.escrow, channel!.asset);
    const total = receipts[2]!.cumulativeCharged;
    await expect.poll(async () => (await escrow.channel(channel!.channelId))?.redeemed, { timeout: 60_000, interval: 500 }).toBe(total);
    expect((await escrow.channel(channel!.channelId))!.deposit).toBe(2_000_000n);
  });

  it("tops a channel up once when the next call's quote would pass its deposit, waiting for the platform to see it", { timeout: 60_000 }, async () => {
    const payer = platform.chain.accounts[6]!;
    const receipts: Receipt[] = [];
    // A deposit of 1500 covers one call's quote (1160 for 8 tokens) but not two.
    const client = new PayingClient({ baseURL: platform.url, payer, deposit: 1500n, onReceipt: (r) => receipts.push(r) });
    const openai = client.openai();
    for (let i = 0; i < 2; i++) await openai.chat.completions.create({ model: "ad_paid", messages: [question], max_tokens: 8, temperature: 0 });
    expect(receipts).toHaveLength(2);
    const [channel] = client.store.list();
    const escrow = new EscrowClient(payer, channel!.escrow, channel!.asset);
    // Opened with 1500, topped up once by 1500: never twice for one mirror lag.
    expect((await escrow.channel(channel!.channelId))!.deposit).toBe(3000n);
    expect(channel!.deposit).toBe("3000");
  });

  it("tells a free or unknown model apart from a priced one when asked for terms", async () => {
    const client = new PayingClient({ baseURL: platform.url });
    await expect(client.terms("mf-tiny-sotu")).rejects.toThrow(/asks for no payment/);
    const terms = await client.terms("ad_paid");
    expect(terms).toMatchObject({ chainId: platform.deps.config.chainId, escrow: platform.chain.addresses.paymentEscrow, amount: 1020n });
  });

  it("the CLI: chat pays through a channel it opens from a development account, channel status shows it on chain, bad input is a usage error", { timeout: 60_000 }, async () => {
    const lines: string[] = [];
    const out = (l: string) => lines.push(l);
    const flags = ["--url", platform.url, "--rpc", platform.chain.rpcUrl!, "--dev-account", "4", "--state", join(dataDir, "cli", "channels.json")];
    const code = await main(["chat", "--model", "ad_paid", "--max-tokens", "6", ...flags, "What is the capital of Peru?"], out);
    expect(code, lines.join("\n")).toBe(0);
    expect(lines.join("\n")).toMatch(/opened channel 0x[0-9a-f]{64} with 10000000/);
    expect(lines.join("\n")).toMatch(/paid 0\.00\d+ tUSD; channel 0x[0-9a-f]{8}…: 0\.00\d+ charged in total of 10\.0 deposited/);
    lines.length = 0;
    expect(await main(["channel", "status", "--model", "ad_paid", ...flags], out)).toBe(0);
    expect(lines.join("\n")).toMatch(/on chain: 10\.0 tUSD deposited, 0\.0 redeemed/);
    lines.length = 0;
    expect(await main(["chat", ...flags, "no model"], out)).toBe(2);
    expect(lines[0]).toMatch(/^--model <id> is needed\n\nusage: npm run client/);
    expect(await main(["channel", "fund", "--model", "ad_paid", ...flags, "lots"], out)).toBe(2);
    expect(await main(["chat", "--modle", "ad_paid", ...flags, "typo"], out)).toBe(2);
  });
});
