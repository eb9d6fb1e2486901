// A payer who asks for its deposit back: on the running platform with daily epochs (settlement then
// comes later than the local escrow's one-day withdrawal delay), the platform redeems what it charged on the
// channel at once instead of at the epoch's end, refuses further vouchers on it, and the paying
// client moves to a fresh channel by itself.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addAdapter } from "../containers/inference/test-support.ts";
import { priceKey } from "../core/payments/adapter-prices.ts";
import { startPlatform, type Platform } from "../local/platform.ts";
import { EscrowClient } from "./escrow.ts";
import { PayingClient, type Receipt } from "./paying-client.ts";

let dataDir: string;
let platform: Platform;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "closing-channel-"));
  platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT", settlement: { epochSeconds: 86_400, graceSeconds: 10 } });
  await addAdapter(platform.deps.tables, platform.deps.blobs, { id: "ad_paid", promptTemplate: "instruction" });
  await platform.deps.tables.main.put({ ...priceKey("ad_paid"), perCall: "1000", perThousandOutputTokens: "20000" });
  await platform.inference!.ready();
}, 90_000);

afterAll(async () => {
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("a channel whose withdrawal comes before the next settlement", () => {
  it("is redeemed early, refused afterwards, and the client opens a new one", { timeout: 60_000 }, async () => {
    // Prepare: one paid call on a channel
    const payer = platform.chain.accounts[5]!;
    const receipts: Receipt[] = [];
    const client = new PayingClient({ baseURL: platform.url, payer, deposit: 1_000_000n, onReceipt: (r) => receipts.push(r) });
    const ask = () => client.openai().chat.completions.create({ model: "ad_paid", messages: [{ role: "user", content: "Hello?" }], max_tokens: 4, temperature: 0 });
    await ask();
    const first = receipts[0]!;
    const escrow = new EscrowClient(payer, platform.chain.addresses.paymentEscrow, platform.chain.addresses.token);
    expect((await escrow.channel(first.channelId))!.redeemed).toBe(0n);

    // Act: the payer asks for the whole deposit back (possible in a day, before the day's epoch is settled)
    await escrow.requestWithdrawal(first.channelId, 1_000_000n);

    // Assess: redeemed up to the charge within seconds, long before settlement
    await expect.poll(async () => (await escrow.channel(first.channelId))!.redeemed, { timeout: 30_000, interval: 500 }).toBe(first.cumulativeCharged);
    // The next call is refused on that channel (channel-closing); the client retires it and pays on a new one.
    await ask();
    expect(receipts[1]!.channelId).not.toBe(first.channelId);
    expect(client.store.list().map((c) => Boolean(c.retired))).toEqual([true, false]);
  });
});
