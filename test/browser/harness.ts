import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import { chromium, type Page } from "playwright-core";
import { startPlatform, type Platform, type PlatformOptions } from "../../local/platform.ts";

/** Debian's Chromium (`apt-get install -y chromium`); npm cannot download a browser here. */
export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);

/** Where the browser tests keep their screenshots for people to look at: SCREENSHOT_DIR, else test-output/browser (git-ignored). */
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? new URL("../../test-output/browser/", import.meta.url).pathname;
if (!hasChromium) console.warn(`Skipping browser tests: ${CHROMIUM} not found (apt-get install -y chromium).`);

export interface BrowserHarness {
  platform: Platform;
  page: Page;
  /** Uncaught errors thrown in the page. */
  pageErrors: string[];
  /** A full-page screenshot, `<name>.png` under SCREENSHOT_DIR. */
  shot(name: string): Promise<void>;
  /**
   * axe-core's serious and critical violations on the page as it is now, as
   * "rule: target" lines (empty when there are none), WCAG 2.2 A/AA rules.
   */
  axe(): Promise<string[]>;
  close(): Promise<void>;
}

/** The real local platform on a fresh data directory, and one page in headless Chromium. */
export async function openBrowserHarness(tmpPrefix: string, options: Omit<PlatformOptions, "dataDir" | "port"> = {}): Promise<BrowserHarness> {
  const dataDir = await mkdtemp(join(tmpdir(), tmpPrefix));
  // Its own web build: every start rebuilds web/dist from scratch, which would pull the files from under another platform's page.
  const platform = await startPlatform({ dataDir, port: 0, webDistDir: join(dataDir, "web-dist"), ...options });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // A context of its own (not browser.newPage's implicit one): axe-core's runner needs it to open its frame checks.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  return {
    platform,
    page,
    pageErrors,
    async shot(name) {
      await mkdir(SCREENSHOT_DIR, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
    },
    async axe() {
      const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]).analyze();
      return result.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(" ")} (${v.help})`));
    },
    async close() {
      await browser.close();
      await platform.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
