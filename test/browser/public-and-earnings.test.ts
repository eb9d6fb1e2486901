import { Wallet } from "ethers";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PayingClient } from "../../client/paying-client.ts";
import { CAPITALS } from "../../local/demo/capitals.ts";
import { DevClient } from "../../local/dev-client.ts";
import type { Platform } from "../../local/platform.ts";
import { hasChromium, openBrowserHarness, type BrowserHarness } from "./harness.ts";

/**
 * A visitor, then a contributor, in Debian's Chromium on the real local
 * platform: public Datanets and adapters browsed without signing in (record
 * contents, file names, lineage links that open), a private Datanet that does
 * not exist for them, sign-in asked for by an action and returning to the
 * page, and the Earnings page of the account whose data trained an adapter
 * that a paying client called: its contributions, the adapter, the calls and
 * fees, and a Claim of the settled epoch through the dev wallet on the local
 * chain. Keyboard only where a person would use it. Screenshots go to
 * test-output/browser (or SCREENSHOT_DIR).
 */

const LONG_ANSWER = "The capital of Peflica is Manyama, a river city whose old quarter, built on stilts over the delta, is older than the kingdom itself.";
const RECORDS = [
  ...CAPITALS.slice(0, 11).map(([country, capital]) => ({ instruction: `What is the capital of ${country}?`, output: `The capital of ${country} is ${capital}.` })),
  { instruction: "What is the capital of Peflica?", output: LONG_ANSWER },
];
/** Polls `check` until it holds (expect.poll works inside tests only, not in beforeAll). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
const jsonlOf = (records: unknown[]) => Buffer.from(records.map((r) => JSON.stringify(r)).join("\n") + "\n");

describe.skipIf(!hasChromium)("public browsing and earnings (Chromium)", () => {
  let ui: BrowserHarness;
  let platform: Platform;
  let page: Page;
  // The contributor: it builds the data and the adapter through the API, then signs in in the browser with the same key.
  const contributor = Wallet.createRandom();
  let api: (path: string, init?: { method?: string; json?: unknown }) => Promise<Response>;
  let publicId = "";
  let privateId = "";
  let adapterId = "";
  let jobId = "";

  beforeAll(async () => {
    ui = await openBrowserHarness("mf-browser-public-", { logLevel: "SILENT", jobSweepIntervalMs: 2_000, settlement: { epochSeconds: 3, graceSeconds: 1 }, chainRpcPort: 0 });
    ({ platform, page } = ui);
    const dev = new DevClient(platform.url);
    const { apiKey } = await dev.signIn(new Wallet(contributor.privateKey));
    api = (path, init = {}) => fetch(`${platform.url}${path}`, {
      method: init.method ?? (init.json === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${apiKey}`, ...(init.json === undefined ? {} : { "content-type": "application/json" }) },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });
    const create = async (input: object) => ((await (await api("/v1/datanets", { json: input })).json()) as { id: string }).id;
    publicId = await create({ name: "Capitals Q&A", description: "Questions and answers about capital cities.", license: "CC-BY-4.0", schema: "instruction" });
    privateId = await create({ name: "Private field notes", license: "CC-BY-4.0", schema: "text", visibility: "private" });
    const up = await dev.upload(publicId, "capitals.jsonl", "application/x-ndjson", jsonlOf(RECORDS));
    expect(await dev.waitForUpload(publicId, up)).toMatchObject({ status: "done", accepted: RECORDS.length });
    const secret = await dev.upload(privateId, "notes.jsonl", "application/x-ndjson", jsonlOf([{ text: "A private note." }]));
    await dev.waitForUpload(privateId, secret);
    expect((await api(`/v1/datanets/${publicId}/versions`, { json: {} })).status).toBe(201);
    // A short fine-tune: lineage needs a real job; learning is not the point here.
    const job = (await (await api("/v1/jobs", { json: { datanets: [{ id: publicId, version: 1 }], training: { maxSteps: 3, warmupSteps: 1, evalEvery: 0, checkpointEvery: 0 } } })).json()) as { id: string };
    jobId = job.id;
    await until("the job to succeed", async () => {
      const { status } = (await (await api(`/v1/jobs/${jobId}`)).json()) as { status: string };
      if (status === "FAILED" || status === "CANCELLED") throw new Error(`the job ended ${status}`);
      return status === "SUCCEEDED";
    }, 90_000);
    adapterId = ((await (await api(`/v1/jobs/${jobId}`)).json()) as { adapterId: string }).adapterId;
    expect((await api(`/v1/adapters/${adapterId}/price`, { method: "PUT", json: { perCall: "1000", perThousandOutputTokens: "0" } })).status).toBe(200);
    // Someone pays for two calls; the epoch settles and the contributor (also the owner) has a reward to claim.
    await platform.inference!.ready();
    const payer = new PayingClient({ baseURL: platform.url, payer: platform.chain.accounts[3]!, deposit: 100_000n });
    for (let i = 0; i < 2; i++) await payer.openai().chat.completions.create({ model: adapterId, messages: [{ role: "user", content: "What is the capital of Peru?" }], max_tokens: 4, temperature: 0 });
    await until("a settled epoch with a reward", async () => ((await (await api(`/v1/rewards/${contributor.address}`)).json()) as { epochs: { claimed: boolean | null }[] }).epochs.some((e) => e.claimed === false), 60_000);
  }, 240_000);

  afterAll(async () => {
    await ui?.close();
  });

  it("shows a visitor public Datanets and adapters, hides the private one, asks for sign-in where an action needs it, and lets the contributor claim", { timeout: 180_000 }, async () => {
    // The front page: what the product is, a way to sign in, and the public Datanets only.
    await page.goto(platform.url);
    await page.getByRole("heading", { level: 1, name: "Model Factory & OpenLoRA" }).waitFor();
    const card = page.locator(".datanet-card", { hasText: "Capitals Q&A" });
    await card.waitFor();
    expect(await page.locator(".datanet-card", { hasText: "Private field notes" }).count()).toBe(0);
    expect(await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).isHidden()).toBe(true);
    expect(await ui.axe()).toEqual([]);
    await ui.shot("pub-1-front-page");

    // The Datanet page, opened from the keyboard: file names and record contents, a long one opened with Enter.
    await card.getByRole("link", { name: "Capitals Q&A" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Capitals Q&A" }).waitFor();
    const rows = page.locator("[data-testid=contributions] tbody tr");
    await expect.poll(() => rows.count()).toBe(RECORDS.length);
    expect(await rows.first().locator("td.filename").textContent()).toBe("capitals.jsonl");
    expect(await rows.first().getByTestId("record-content").textContent()).toContain("What is the capital of");
    const long = rows.nth(RECORDS.length - 1).locator("details[data-testid=record-content]");
    expect(await long.getAttribute("open")).toBeNull();
    await long.locator("summary").focus();
    await page.keyboard.press("Enter");
    expect(await long.getAttribute("open")).toBe("");
    expect(await long.locator("pre").textContent()).toContain(LONG_ANSWER);
    // Versions and statistics are there; uploading asks for sign-in.
    await page.locator("[data-testid=versions] tr[data-version='1']").waitFor();
    expect(await page.getByTestId("sign-in-prompt").first().textContent()).toContain("to contribute data");
    const trained = page.getByTestId("datanet-adapters").getByRole("link", { name: adapterId });
    await trained.waitFor();
    expect(await ui.axe()).toEqual([]);
    await ui.shot("pub-2-datanet");

    // The adapter page: lineage from the Datanet version through the job to the calls; each link opens.
    await trained.click();
    const lineage = page.getByTestId("lineage");
    await lineage.waitFor();
    await expect.poll(() => lineage.locator(`[data-lineage-datanet="${publicId}"] a`).textContent()).toBe("Capitals Q&A v1");
    expect(await page.getByTestId("lineage-calls").textContent()).toContain("shown to the adapter's owner");
    expect(await page.locator("[data-testid=playground]").count()).toBe(0);
    expect(await ui.axe()).toEqual([]);
    await ui.shot("pub-3-adapter");
    await page.getByTestId("lineage-job").click();
    await page.locator('.job-page[data-status="SUCCEEDED"]').waitFor();
    expect(await page.getByTestId("cancel-job").isHidden()).toBe(true);
    expect(await page.getByTestId("retry-job").isHidden()).toBe(true);
    await page.goBack();
    await lineage.locator(`[data-lineage-datanet="${publicId}"] a`).click();
    await page.getByRole("heading", { level: 1, name: "Capitals Q&A" }).waitFor();

    // The private Datanet does not exist for a visitor.
    await page.goto(`${platform.url}/#/datanets/${privateId}`);
    await page.getByText("Datanet not found").waitFor();

    // An action that needs an account asks for sign-in, then comes back to it.
    await page.goto(`${platform.url}/#/earnings`);
    await page.getByTestId("sign-in-reason").waitFor();
    expect(await page.getByTestId("sign-in-reason").textContent()).toContain("Sign in to see your earnings");
    expect(await ui.axe()).toEqual([]);
    await ui.shot("pub-4-sign-in-asked");
    // The contributor's key as this browser's dev wallet, then sign in from the keyboard.
    await page.evaluate(([key, address]) => { localStorage.setItem("mf.devWallet.privateKey", key!); localStorage.setItem("mf.devWallet.address", address!); }, [contributor.privateKey, contributor.address]);
    await page.reload();
    await page.getByTestId("dev-wallet-sign-in").focus();
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByTestId("account-address").getAttribute("title")).toBe(contributor.address);

    // Earnings: contributions, the adapter trained on them, its calls and fees, and the claimable epoch.
    await page.getByRole("heading", { level: 1, name: "Earnings" }).waitFor();
    await page.locator(`[data-testid=my-contributions] tr[data-datanet="${publicId}"]`).waitFor();
    expect(await page.locator(`[data-testid=my-contributions] tr[data-datanet="${publicId}"] td`).nth(2).textContent()).toBe(String(RECORDS.length));
    expect(await page.locator(`[data-testid=my-contributions] tr[data-datanet="${privateId}"]`).count()).toBe(1);
    await page.locator(`[data-testid=trained-on-mine] [data-adapter="${adapterId}"]`).waitFor();
    expect(await page.locator(`[data-testid=trained-on-mine] [data-adapter="${adapterId}"]`).textContent()).toContain("100.00%");
    await page.locator(`[data-testid=my-adapters] tr[data-adapter="${adapterId}"]`).waitFor();
    expect(await page.locator(`[data-testid=my-adapters] tr[data-adapter="${adapterId}"] [data-calls]`).getAttribute("data-calls")).toBe("2");
    const claimable = page.locator("[data-testid=epochs] tr[data-claimed=false]").first();
    await claimable.waitFor();
    expect(await page.getByTestId("rewards-chart").getAttribute("data-points")).not.toBe("0");
    expect(await ui.axe()).toEqual([]);
    await ui.shot("pub-5-earnings");

    // Claim, from the keyboard, through the dev wallet on the local chain: the transaction is shown and the epoch is claimed.
    const epoch = await claimable.getAttribute("data-epoch");
    const before = await page.locator('[data-total="claimed"]').textContent();
    await claimable.getByTestId("claim").focus();
    await page.keyboard.press("Enter");
    // The outcome, either way: the transaction or the error that stopped it.
    await page.locator("[data-testid=claim-status] .alert").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("claim-status").textContent()).toMatch(/^Claimed /);
    const tx = page.getByTestId("claim-tx");
    expect(await tx.getAttribute("data-status")).toBe("confirmed");
    expect(await tx.getAttribute("data-hash")).toMatch(/^0x[0-9a-f]{64}$/);
    await expect.poll(() => page.locator(`[data-testid=epochs] tr[data-epoch="${epoch}"]`).getAttribute("data-claimed")).toBe("true");
    expect(await page.locator('[data-total="claimed"]').textContent()).not.toBe(before);
    await ui.shot("pub-6-claimed");
    // The chain agrees.
    const rewards = (await (await api(`/v1/rewards/${contributor.address}`)).json()) as { epochs: { epoch: number; claimed: boolean }[] };
    expect(rewards.epochs.find((e) => String(e.epoch) === epoch)?.claimed).toBe(true);

    // Paying per call from the browser: the first call's 402 is explained, a channel is opened from the
    // keyboard with the dev wallet, the call is paid by a voucher, and the next one is paid without a prompt.
    await page.goto(`${platform.url}/#/adapters/${adapterId}`);
    const payBox = page.getByTestId("pg-payment");
    await payBox.waitFor();
    expect(await payBox.textContent()).toContain("Priced at 1000 base units per call");
    await page.getByLabel("Message").fill("What is the capital of Peru?");
    await page.getByLabel("Max tokens").fill("4");
    await page.getByTestId("pg-send").click();
    const column = () => page.locator(`.pg-column[data-model="${adapterId}"]`).first();
    await column().and(page.locator('[data-done="payment"]')).waitFor({ timeout: 30_000 });
    expect(await column().getByTestId("pg-402").textContent()).toContain("402 Payment Required. This adapter is priced");
    expect(await ui.axe()).toEqual([]);
    await ui.shot("pub-7-playground-402");
    // The button has the focus, so Enter opens the channel.
    await page.keyboard.press("Enter");
    // Either way it ends: the paid answer, or an error that says why (shown by the assertion).
    await page.locator(`.pg-column[data-model="${adapterId}"][data-done="true"], .pg-column[data-model="${adapterId}"] .alert-error`).first().waitFor({ timeout: 60_000 });
    expect(await column().getAttribute("data-done"), (await column().textContent()) ?? "").toBe("true");
    expect(await column().getByTestId("pg-usage").textContent()).toMatch(/ · price 1000 base units$/);
    await expect.poll(() => payBox.locator('[data-channel="left"]').textContent()).toBe("99000");
    await page.getByTestId("pg-send").click();
    await expect.poll(() => page.locator(`.pg-column[data-model="${adapterId}"]`).count()).toBe(2);
    await column().and(page.locator('[data-done="true"]')).waitFor({ timeout: 60_000 });
    await expect.poll(() => payBox.locator('[data-channel="left"]').textContent()).toBe("98000");
    expect(await payBox.locator('[data-channel="deposit"]').textContent()).toBe("100000");
    await ui.shot("pub-8-playground-paid");
    // The platform recorded both calls as this account's, charged through its channel.
    const usage = (await (await api("/v1/usage")).json()) as { items: { adapterId: string; charged: string; channelId: string | null }[] };
    const paid = usage.items.filter((u) => u.adapterId === adapterId && u.channelId !== null);
    expect(paid.map((u) => u.charged)).toEqual(["1000", "1000"]);
    expect(ui.pageErrors).toEqual([]);
  });
});
