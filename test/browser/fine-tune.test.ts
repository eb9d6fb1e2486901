import { readFile } from "node:fs/promises";
import { Wallet } from "ethers";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DevClient } from "../../local/dev-client.ts";
import { CAPITALS } from "../../local/demo/capitals.ts";
import type { Platform } from "../../local/platform.ts";
import { TrainingSettings } from "../../core/jobs/model.ts";
import { openBrowserHarness, hasChromium, type BrowserHarness } from "./harness.ts";

/**
 * The Model Factory UI end to end in Debian's Chromium against the real local
 * platform (trainer child process, local chain): an instruction Datanet with
 * two contributors, a published version, a fine-tune started from the
 * Datanet's page with max steps set under "Advanced", the job page followed
 * live to SUCCEEDED with its loss curve and metrics, and the adapter page
 * with its fingerprint and attribution bars.
 * Screenshots of each step go to test-output/browser (or SCREENSHOT_DIR).
 */

const line = ([country, capital]: readonly [string, string]) =>
  JSON.stringify({ instruction: `What is the capital of ${country}?`, output: `The capital of ${country} is ${capital}.` });
// 20 records from the person in the browser, 8 from a second contributor.
const MINE = CAPITALS.slice(0, 20).map(line).join("\n") + "\n";
const THEIRS = CAPITALS.slice(20, 28).map(line).join("\n") + "\n";

describe.skipIf(!hasChromium)("Model Factory web UI (Chromium)", () => {
  let ui: BrowserHarness;
  let platform: Platform;
  let page: Page;
  const requests: string[] = [];

  beforeAll(async () => {
    ui = await openBrowserHarness("mf-browser-ft-", { logLevel: "SILENT", jobSweepIntervalMs: 2_000 });
    ({ platform, page } = ui);
    page.on("request", (req) => requests.push(`${req.method()} ${new URL(req.url()).pathname}`));
  });

  afterAll(async () => {
    await ui?.close();
  });

  const shot = (name: string) => ui.shot(name);

  it("fine-tunes an adapter from a Datanet's page and shows its curve, metrics and attribution", { timeout: 120_000 }, async () => {
    // Sign in with the dev wallet and create an instruction Datanet.
    await page.goto(platform.url);
    await page.getByTestId("dev-wallet-sign-in").click();
    await page.getByTestId("account-address").waitFor();
    await page.getByRole("link", { name: "New Datanet" }).click();
    await page.getByLabel("Name").fill("Capitals Q&A");
    await page.getByLabel("Description").fill("Questions and answers about capital cities.");
    await page.getByLabel("Instruction").check();
    await page.getByRole("button", { name: "Create Datanet" }).click();
    await page.getByRole("heading", { level: 1, name: "Capitals Q&A" }).waitFor();
    const datanetId = decodeURIComponent(new URL(page.url()).hash.split("/").pop()!);
    expect(datanetId).toMatch(/^dn_/);
    // No version yet: no fine-tune action.
    expect(await page.getByTestId("fine-tune").isHidden()).toBe(true);

    // 20 records from the browser, 8 more from another contributor through the API.
    await page.getByTestId("upload-input").setInputFiles({ name: "capitals.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.from(MINE) });
    const other = new DevClient(platform.url);
    await other.signIn(new Wallet(Wallet.createRandom().privateKey));
    const theirs = await other.upload(datanetId, "more.jsonl", "application/x-ndjson", Buffer.from(THEIRS));
    expect(await other.waitForUpload(datanetId, theirs)).toMatchObject({ status: "done", accepted: 8 });
    const row = page.getByTestId("upload-row").first();
    await row.and(page.locator('[data-phase="done"]')).waitFor({ timeout: 30_000 });
    expect(await row.getByTestId("accepted-count").textContent()).toBe("20 accepted");

    // Publish v1; its row and the header both offer "Fine-tune".
    await page.getByTestId("publish-version").click();
    await page.locator("[data-testid=versions] tr[data-version='1']").waitFor();
    expect(await page.locator("[data-testid=versions] tr[data-version='1'] td").nth(2).textContent()).toBe("28");
    await shot("ft-0-datanet");
    await page.getByTestId("fine-tune").click();

    // The form: the Datanet's latest version preselected, a base model card, the API's defaults.
    await page.getByRole("heading", { level: 1, name: "New fine-tune" }).waitFor();
    const source = page.getByTestId("job-source");
    await expect.poll(() => source.getAttribute("data-datanet")).toBe(datanetId);
    await expect.poll(() => source.locator(".source-summary").textContent()).toContain("28 records");
    await page.getByRole("radio", { name: /Model Factory tiny SOTU/ }).waitFor();
    expect(await page.getByRole("radio", { name: /Model Factory tiny SOTU/ }).isChecked()).toBe(true);
    expect(await page.getByLabel("Rank (r)").inputValue()).toBe("16");
    expect(await page.getByLabel("Learning rate").inputValue()).toBe(String(TrainingSettings.parse({}).learningRate));
    expect(await page.getByRole("checkbox", { name: /q_proj/ }).isChecked()).toBe(true);
    expect(await page.getByRole("checkbox", { name: /gate_proj/ }).isChecked()).toBe(true);
    expect(await page.getByLabel("Max steps").isVisible()).toBe(false);

    // The estimate: the API's 3 epochs of 28 records would be a step or two; the defaults follow the data instead.
    // Counted in the model's tokens with its measured tokenizer cost: an estimate ("≈"), not a lower bound.
    const estimate = page.getByTestId("run-estimate");
    await expect.poll(() => estimate.locator('[data-estimate="steps"]').textContent()).toMatch(/^≈ \d+/);
    const steps = Number((await estimate.locator('[data-estimate="steps"]').textContent())!.replace(/\D/g, ""));
    expect(steps).toBeGreaterThanOrEqual(30);
    expect(await estimate.getAttribute("data-warnings")).toBe("0");
    expect(Number(await page.getByLabel("Epochs").inputValue())).toBeGreaterThan(3);
    expect(await page.locator("#f-training-epochs-note").textContent()).toContain("Scaled to 28 records");
    // Its only version is already in the job: "Add" is spent, so the same version cannot go in twice.
    const pickerRow = page.locator(".picker-row", { hasText: "Capitals Q&A" });
    expect(await pickerRow.getByRole("button").isDisabled()).toBe(true);
    expect(await ui.axe()).toEqual([]);

    // An invalid value: checked in the page against the API's bounds, in words, before anything is sent.
    await page.getByLabel("Learning rate").fill("-1");
    await page.getByLabel("Rank (r)").fill("500");
    const posts = requests.filter((r) => r === "POST /v1/jobs").length;
    await page.getByTestId("start-fine-tune").click();
    const lrError = page.locator("#f-training-learningRate-error");
    await expect.poll(() => lrError.textContent()).toBe("Learning rate must be a number above 0 and at most 1.");
    expect(await page.getByLabel("Learning rate").getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator("#f-lora-rank-error").textContent()).toBe("Rank (r) must be a whole number from 1 to 256.");
    // Focus goes to the first field in error, so a keyboard user lands on it.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("f-lora-rank");
    expect(requests.filter((r) => r === "POST /v1/jobs").length).toBe(posts);
    await shot("ft-1-form-invalid");

    // A short run: max steps under "Advanced", held-out points every 5 steps.
    await page.getByLabel("Learning rate").fill("0.002");
    await page.getByLabel("Rank (r)").fill("8");
    await page.getByText("Advanced", { exact: true }).click();
    await page.getByLabel("Max steps").fill("15");
    await page.getByLabel("Warmup steps").fill("3");
    await page.getByLabel("Evaluate every").fill("5");
    await page.getByLabel("Checkpoint every").fill("5");
    // 15 steps is a smoke test, not training: the estimate says so, and still lets it start.
    // Max steps are the run's steps exactly.
    await expect.poll(() => estimate.locator('[data-estimate="steps"]').textContent()).toBe("15");
    expect(await page.getByTestId("estimate-warning").textContent()).toContain("Only 15 optimizer steps");
    await shot("ft-2-form");
    await page.getByTestId("start-fine-tune").click();

    // The job page follows the run live to SUCCEEDED.
    await page.waitForURL(/#\/jobs\/job_/);
    const jobId = decodeURIComponent(new URL(page.url()).hash.split("/").pop()!);
    await page.locator(".job-page[data-status]").waitFor();
    await page.locator('[data-stat="step"]', { hasText: "/ 15" }).waitFor({ timeout: 60_000 });
    await shot("ft-3-job-running");
    await page.locator('.job-page[data-status="SUCCEEDED"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('[data-stat="step"]').textContent()).toBe("15 / 15");
    // Followed through the event stream (fetch, with the bearer key), not by polling the job.
    expect(requests).toContain(`GET /v1/jobs/${jobId}/events`);
    expect(requests.filter((r) => r === `GET /v1/jobs/${jobId}`)).toHaveLength(1);
    // The chart (uPlot on a canvas) draws every point of the job's curve as the API has it, held-out points included.
    const chart = page.getByTestId("loss-chart");
    expect(await chart.locator("canvas").count()).toBeGreaterThanOrEqual(1);
    const curve = await page.evaluate(async (id) => {
      const { apiKey } = JSON.parse(localStorage.getItem("mf.session")!) as { apiKey: string };
      const res = await fetch(`/v1/jobs/${id}`, { headers: { authorization: `Bearer ${apiKey}` } });
      return ((await res.json()) as { lossCurve: { step: number; evalLoss?: number }[] }).lossCurve;
    }, jobId);
    expect(curve.length).toBeGreaterThanOrEqual(2);
    expect(Number(await chart.getAttribute("data-points"))).toBe(curve.length);
    const evals = curve.filter((p) => p.evalLoss !== undefined).length;
    expect(evals).toBeGreaterThanOrEqual(2);
    expect(Number(await chart.getAttribute("data-eval-points"))).toBe(evals);
    // The numbers behind the canvas, for people who cannot see it: one row per point (15 steps fit the table).
    await chart.getByText("Show the numbers").click();
    expect(await chart.locator(".chart-table tbody tr").count()).toBe(curve.length);
    expect(await chart.locator(".chart-summary").textContent()).toMatch(/^Training loss from \d+\.\d{3} at step 1 to \d+\.\d{3} at step 15; \d+ held-out evaluations/);
    const metrics = page.getByTestId("metrics");
    const lossRow = metrics.locator("tbody tr").first();
    expect(await lossRow.locator("td").nth(0).textContent()).toMatch(/^\d+\.\d{3}$/); // base model
    expect(await lossRow.locator("td").nth(1).textContent()).toMatch(/^\d+\.\d{3}$/); // adapter
    expect(await page.getByTestId("cancel-job").isHidden()).toBe(true);
    expect(await page.getByTestId("retry-job").isHidden()).toBe(true);
    expect(await ui.axe()).toEqual([]);
    await shot("ft-4-job-done");

    // Clone: the form comes back with this job's data and settings.
    await page.getByTestId("clone-job").click();
    await page.getByTestId("cloned-from").waitFor();
    await expect.poll(() => page.getByTestId("job-source").getAttribute("data-datanet")).toBe(datanetId);
    expect(await page.getByLabel("Max steps").inputValue()).toBe("15");
    expect(await page.getByLabel("Evaluate every").inputValue()).toBe("5");
    await page.goBack();
    await page.locator('.job-page[data-status="SUCCEEDED"]').waitFor();

    // The jobs list shows it succeeded.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
    const jobRow = page.locator(`[data-testid=jobs] tr[data-id="${jobId}"]`);
    await jobRow.waitFor();
    expect(await jobRow.getAttribute("data-status")).toBe("SUCCEEDED");
    await shot("ft-5-jobs");

    // The adapter page: fingerprint, chain status, attribution bars adding up to 100%.
    await jobRow.getByRole("link", { name: /^ad_/ }).click();
    const fingerprint = page.getByTestId("fingerprint");
    await fingerprint.waitFor();
    expect(await fingerprint.getAttribute("data-value")).toMatch(/^0x[0-9a-f]{64}$/);
    const contributors = page.locator("[data-testid=contributor-bars] .bar-row");
    expect(await contributors.count()).toBe(2);
    const bps = (await contributors.evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-bps")))));
    expect(bps.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(bps[0]).toBeGreaterThan(bps[1]!); // 20 records against 8
    // Each bar is as wide as its share.
    const widths = await contributors.locator(".bar-fill").evaluateAll((fills) => fills.map((f) => (f as HTMLElement).style.width));
    expect(widths).toEqual(bps.map((b) => `${b / 100}%`));
    expect(await page.locator("[data-testid=datanet-bars] .bar-value").first().textContent()).toMatch(/^100\.00%/);
    await page.locator('[data-testid=chain-status] [data-chain="confirmed"]').waitFor({ timeout: 30_000 });
    await shot("ft-6-adapter");
    // A file downloads through a fresh signed link, saved under its own name.
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-metrics.json").click()]);
    expect(download.suggestedFilename()).toBe("metrics.json");
    const saved = await download.path();
    expect(JSON.parse(await readFile(saved, "utf8"))).toMatchObject({ lossCurve: expect.any(Array) });

    // The playground: a streamed answer from the adapter and, side by side, from the base model, with
    // token counts, and the adapter's with its attribution.
    await page.getByLabel("Message").fill("What is the capital of France?");
    await page.getByLabel(/Side by side/).check();
    await page.getByTestId("pg-send").click();
    const adapterColumn = page.locator(`.pg-column[data-model="${jobId.replace(/^job_/, "ad_")}"]`);
    const baseColumn = page.locator('.pg-column[data-model="mf-tiny-sotu"]');
    await adapterColumn.and(page.locator('[data-done="true"]')).waitFor({ timeout: 60_000 });
    await baseColumn.and(page.locator('[data-done="true"]')).waitFor({ timeout: 60_000 });
    expect((await adapterColumn.getByTestId("pg-answer").textContent())!.length).toBeGreaterThan(0);
    expect(await adapterColumn.getByTestId("pg-usage").textContent()).toMatch(/^\d+ prompt \+ \d+ completion tokens · price 0 base units$/);
    expect(await adapterColumn.getByTestId("pg-attribution").textContent()).toMatch(/^Attribution \(\w+\)/);
    expect(await baseColumn.getByTestId("pg-attribution").count()).toBe(0);
    await shot("ft-6b-playground");

    // The owner prices the adapter: a bad amount is refused in words, a good one is saved by the API.
    const price = page.getByTestId("adapter-price");
    await expect.poll(() => price.locator('[data-price="perCall"]').textContent()).toBe("0");
    await page.getByLabel("Price per call").fill("1.5");
    await page.getByTestId("save-price").click();
    await expect.poll(() => page.locator("#price-per-call-error").textContent()).toContain("whole number");
    await page.getByLabel("Price per call").fill("2500");
    await page.getByLabel("Price per 1,000 output tokens").fill("100");
    await page.getByTestId("save-price").click();
    await expect.poll(() => price.locator('[data-price="perCall"]').textContent()).toBe("2500");
    const served = await page.evaluate(async (id) => {
      const { apiKey } = JSON.parse(localStorage.getItem("mf.session")!) as { apiKey: string };
      return (await (await fetch(`/v1/adapters/${id}/price`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { perCall: string; perThousandOutputTokens: string };
    }, jobId.replace(/^job_/, "ad_"));
    expect(served).toMatchObject({ perCall: "2500", perThousandOutputTokens: "100" });
    // Priced now: the next playground call states its price, or explains the 402 when the service wants a payment.
    await page.reload();
    await page.getByLabel("Message").fill("And of Spain?");
    await page.getByTestId("pg-send").click();
    const next = page.locator(`.pg-column[data-model="${jobId.replace(/^job_/, "ad_")}"]`).first();
    await next.and(page.locator("[data-done]")).waitFor({ timeout: 60_000 });
    const outcome = (await next.textContent())!;
    // A priced adapter's first call is a 402: the page explains it and offers to open a payment channel
    // (paying through it is test/browser/public-and-earnings.test.ts's).
    expect(await next.getAttribute("data-done")).toBe("payment");
    expect(outcome).toContain("402 Payment Required. This adapter is priced");
    expect(await next.getByTestId("pg-open-channel").isVisible()).toBe(true);
    await shot("ft-6c-playground-priced");
    expect(await ui.axe()).toEqual([]);

    // And the adapters list has it.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Adapters" }).click();
    await page.locator(".adapter-card", { hasText: jobId.replace(/^job_/, "ad_") }).waitFor();

    // A long run is cancelled from its page.
    await page.goto(`${platform.url}/#/jobs/new?datanet=${datanetId}&version=1`);
    await expect.poll(() => page.getByTestId("job-source").getAttribute("data-datanet")).toBe(datanetId);
    await page.getByText("Advanced", { exact: true }).click();
    await page.getByLabel("Max steps").fill("5000");
    await page.getByTestId("start-fine-tune").click();
    await page.locator('[data-stat="step"]', { hasText: "/ 5,000" }).waitFor({ timeout: 30_000 });
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByTestId("cancel-job").click();
    await page.locator('.job-page[data-status="CANCELLED"]').waitFor();
    expect(await page.getByTestId("cancel-job").isHidden()).toBe(true);
    // Retry runs the cancelled job again as it was, as a new job.
    const cancelledUrl = page.url();
    await page.getByTestId("retry-job").click();
    await page.waitForURL((url) => url.toString() !== cancelledUrl && /#\/jobs\/job_/.test(url.toString()));
    await page.locator('[data-stat="step"]', { hasText: "/ 5,000" }).waitFor({ timeout: 30_000 });
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByTestId("cancel-job").click();
    await page.locator('.job-page[data-status="CANCELLED"]').waitFor();

    expect(ui.pageErrors).toEqual([]);
  });
});
