import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Platform } from "../../local/platform.ts";
import { openBrowserHarness, hasChromium, type BrowserHarness } from "./harness.ts";

/**
 * The Datanets UI end to end in Debian's Chromium against the real local
 * platform: sign in with the dev wallet, create a Datanet, drop a JSONL file
 * with good and bad records, publish a version, verify a proof in the browser.
 * Screenshots of each step go to test-output/browser (or SCREENSHOT_DIR).
 */

// Lines 1, 3 and 5 are good; line 2 is not JSON, line 4 lacks the "text" field.
const JSONL = [
  JSON.stringify({ text: "Merkle trees let anyone check that a record belongs to a dataset." }),
  "{not json",
  JSON.stringify({ text: "Each contribution keeps its contributor, license and content hash." }),
  JSON.stringify({ title: "no text field here" }),
  JSON.stringify({ text: "Versions freeze accepted contributions under one root." }),
].join("\n") + "\n";

describe.skipIf(!hasChromium)("Datanets web UI (Chromium)", () => {
  let ui: BrowserHarness;
  let platform: Platform;
  let page: Page;

  beforeAll(async () => {
    ui = await openBrowserHarness("mf-browser-");
    ({ platform, page } = ui);
  });

  afterAll(async () => {
    await ui?.close();
  });

  const shot = (name: string) => ui.shot(name);

  it("takes a JSONL file from drop to a verified inclusion proof", { timeout: 120_000 }, async () => {
    // Sign in with the local dev wallet.
    await page.goto(platform.url);
    await expect.poll(() => page.getByRole("heading", { name: "Sign in" }).isVisible()).toBe(true);
    // A visitor first sees what the product is, then the sign-in; the page passes axe-core.
    expect(await page.getByRole("heading", { level: 1, name: "Model Factory & OpenLoRA" }).isVisible()).toBe(true);
    expect(await ui.axe()).toEqual([]);
    await shot("1-sign-in");
    await page.getByTestId("dev-wallet-sign-in").click();
    const address = page.getByTestId("account-address");
    await address.waitFor();
    expect(await address.getAttribute("title")).toMatch(/^0x[0-9a-fA-F]{40}$/);

    // Create a Datanet; a too-short name first, to see the API's problem details.
    await page.getByRole("link", { name: "New Datanet" }).click();
    await page.getByLabel("Name").fill("ab");
    await page.getByRole("button", { name: "Create Datanet" }).click();
    const alert = page.locator(".alert-error");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/name/i);
    await shot("2-create-invalid");

    await page.getByLabel("Name").fill("Provenance notes");
    await page.getByLabel("Description").fill("Short sentences about dataset provenance.");
    await page.getByLabel("License", { exact: true }).selectOption("CC-BY-4.0");
    await page.getByLabel("Tags").fill("provenance, english");
    await page.getByRole("button", { name: "Create Datanet" }).click();
    await page.getByRole("heading", { level: 1, name: "Provenance notes" }).waitFor();
    // Nothing accepted yet: nothing to publish, and the page says why.
    await expect.poll(() => page.locator("#publish-hint").textContent()).toContain("upload data first");
    expect(await page.getByTestId("publish-version").isDisabled()).toBe(true);

    // Upload through the drop zone's file input and follow ingest to the end.
    await page.getByTestId("upload-input").setInputFiles({ name: "notes.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.from(JSONL) });
    const row = page.getByTestId("upload-row").first();
    await page.locator('[data-testid=upload-row][data-phase="done"], [data-testid=upload-row][data-phase="failed"]').first().waitFor({ timeout: 60_000 });
    expect(await row.getAttribute("data-phase")).toBe("done");
    expect(await row.getByTestId("accepted-count").textContent()).toBe("3 accepted");
    expect(await row.getByTestId("rejected-count").textContent()).toBe("2 rejected");

    // Statistics: records, contributors, a length histogram, and the upload by its file name.
    const stats = page.getByTestId("datanet-stats");
    await expect.poll(() => stats.locator('[data-stat="accepted"]').textContent()).toBe("3");
    expect(await stats.locator('[data-stat="rejected"]').textContent()).toBe("2");
    expect(await stats.locator('[data-stat="contributors"]').textContent()).toBe("1");
    const bars = await page.locator("[data-testid=length-histogram] tbody tr").evaluateAll((rows) => rows.reduce((n, r) => n + Number(r.getAttribute("data-count")), 0));
    expect(bars).toBe(3);
    await expect.poll(() => page.locator("[data-testid=contributions] tbody tr td.filename").first().textContent()).toBe("notes.jsonl");
    await expect.poll(() => page.getByTestId("publish-version").isEnabled()).toBe(true);

    // Rejected records show their line and a reason.
    await page.getByLabel("Status").selectOption("rejected");
    const rejected = page.locator("[data-testid=contributions] tbody tr[data-status=rejected]");
    await expect.poll(() => rejected.count()).toBe(2);
    expect(await rejected.locator("td.num").first().textContent()).toBe("2");
    expect((await rejected.first().locator("td.reason").textContent())?.trim().length).toBeGreaterThan(3);
    await shot("3-uploaded");

    // Publish a version (the dev wallet owns this Datanet).
    await page.getByTestId("publish-version").click();
    const v1 = page.locator("[data-testid=versions] tr[data-version='1']");
    await v1.waitFor();
    expect(await v1.locator("td").nth(2).textContent()).toBe("3");
    // Its on-chain status, and nothing new to publish: the same root again is not offered.
    await v1.locator('[data-testid=version-chain] [data-chain]').waitFor();
    expect(await page.getByTestId("publish-version").isDisabled()).toBe(true);
    expect(await page.locator("#publish-hint").textContent()).toContain("same root");

    // Verify an accepted record's proof in the browser.
    await page.getByLabel("Status").selectOption("accepted");
    const accepted = page.locator("[data-testid=contributions] tbody tr[data-status=accepted]");
    await expect.poll(() => accepted.count()).toBe(3);
    // Each "Verify proof" button is named by its row.
    const line = await accepted.nth(1).locator("td.num").first().textContent();
    await accepted.nth(1).getByRole("button", { name: `Verify proof of line ${line} of notes.jsonl`, exact: true }).click();
    const verdict = page.getByTestId("proof-verdict");
    await verdict.waitFor();
    expect(await verdict.getAttribute("data-ok")).toBe("true");
    expect(await verdict.textContent()).toContain("✓");
    // Focus follows to the verdict, which is on screen.
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute("data-testid"))).toBe("proof-result");
    expect(await page.getByTestId("proof-result").isVisible()).toBe(true);
    const box = (await page.getByTestId("proof-result").boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.y).toBeLessThan(900);
    expect(await ui.axe()).toEqual([]);
    await shot("4-verified");

    // A real drop event on the zone (the path a person's drag takes) uploads too.
    await page.getByTestId("dropzone").evaluate((zone) => {
      const data = new DataTransfer();
      data.items.add(new File(['{"text":"Dropped onto the zone, not picked."}\n'], "dropped.jsonl"));
      zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    const dropped = page.getByTestId("upload-row").filter({ hasText: "dropped.jsonl" });
    await dropped.and(page.locator('[data-phase="done"]')).waitFor({ timeout: 60_000 });
    expect(await dropped.getByTestId("accepted-count").textContent()).toBe("1 accepted");
    expect(await dropped.getByTestId("rejected-count").textContent()).toBe("0 rejected");
    // A new record: publishing is offered again.
    await expect.poll(() => page.getByTestId("publish-version").isEnabled()).toBe(true);

    // On a 390 px phone the page is no wider than the screen, and the header takes two rows at most.
    await page.setViewportSize({ width: 390, height: 844 });
    // What sticks out, when something does: elements reaching past the screen outside a sideways-scrolling box.
    const overflowing = () => page.evaluate(() => [...document.querySelectorAll("body *")]
      .filter((el) => !el.parentElement?.closest(".table-wrap, .uplot-host") && getComputedStyle(el).overflowX === "visible" &&
        (el.getBoundingClientRect().right > 391 || el.scrollWidth > el.clientWidth + 1))
      .slice(0, 8).map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} right ${Math.round(el.getBoundingClientRect().right)} scroll ${el.scrollWidth}/${el.clientWidth}`));
    await expect.poll(overflowing).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const header = (await page.locator("header.topbar").boundingBox())!;
    expect(header.height).toBeLessThan(110);
    await shot("4b-phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    // The list finds it by search and by tag.
    await page.getByRole("link", { name: "Datanets", exact: true }).first().click();
    await page.getByLabel("Tag").fill("provenance");
    await page.locator(".datanet-card", { hasText: "Provenance notes" }).waitFor();
    await page.getByLabel("Tag").fill("no-such-tag");
    await page.getByText("No Datanets match these filters.").waitFor();
    await shot("5-list");

    expect(ui.pageErrors).toEqual([]);
  });
});
