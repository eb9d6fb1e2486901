// First load of the web UI's sign-in page, before and after the bundle split (issue 13, item 8),
// measured in Debian's Chromium: the bytes it downloads (CDP encodedDataLength: headers excluded,
// compressed size when the response is compressed) and the time until the sign-in heading shows.
//
// "before" is the web UI of BASELINE (one bundle, served as plain files the way local/platform.ts
// did), rebuilt from git; "after" is this tree's build served by web/serve.ts. Both are served
// from loopback, so times measure parsing and running, not a network.
//
// With a third argument, a commit whose web UI is built and served exactly like "after" (this tree's
// web/serve.ts): the same delivery, so the difference is what the page itself loads. Since visitors
// browse without signing in, the first page also lists public Datanets: API calls get an empty page.
//
//   npx node bench/web-first-load.ts [rounds=5] [baseline=247c13c] [compare]
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import { chromium, type Browser } from "playwright-core";
import { buildWeb } from "../web/build.ts";
import { serveWebAsset } from "../web/serve.ts";

const rounds = Number(process.argv[2] ?? 5);
const baseline = process.argv[3] ?? "247c13c";
const compare = process.argv[4];
/** What the bench's servers answer for the API: an empty page (a platform with nothing public yet). */
const emptyApi = (req: Request) => (new URL(req.url).pathname.startsWith("/v1/") ? new Response(JSON.stringify({ items: [] }), { headers: { "content-type": "application/json" } }) : undefined);
const repo = new URL("..", import.meta.url).pathname;

/** Median (mean of the middle two for an even count), min and max of the rounds. */
function summarize(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)! };
}
const fmtNum = (x: number) => Math.round(x).toLocaleString("en-US");
const fmtSummary = (s: { median: number; min: number; max: number }) => `${fmtNum(s.median)} (${fmtNum(s.min)}–${fmtNum(s.max)})`;

interface Load {
  bytes: number;
  files: { url: string; bytes: number; encoding: string }[];
  ms: number;
}

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };

/** The baseline's way: the file at the path, or index.html; no compression, no cache headers. */
function plainFiles(dir: string) {
  return async (req: Request): Promise<Response> => {
    const rel = normalize(new URL(req.url).pathname).replace(/^(\.\.(\/|$))+/, "").replace(/^\/+/, "");
    for (const file of [rel || "index.html", "index.html"]) {
      try {
        return new Response(await readFile(join(dir, file)), { headers: { "content-type": TYPES[extname(file)] ?? "application/octet-stream" } });
      } catch {
        // next candidate
      }
    }
    return new Response("not found", { status: 404 });
  };
}

function listen(fetch: (req: Request) => Promise<Response>): Promise<{ server: ServerType; url: string }> {
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve({ server, url: `http://127.0.0.1:${info.port}/` }));
  });
}

/** One cold load (fresh context, empty cache) and, in the same context, one reload. */
async function load(browser: Browser, url: string): Promise<{ cold: Load; warm: Load }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  let files: Load["files"] = [];
  const urls = new Map<string, { url: string; encoding: string }>();
  cdp.on("Network.responseReceived", (e) => void urls.set(e.requestId, { url: e.response.url, encoding: String(e.response.headers["content-encoding"] ?? e.response.headers["Content-Encoding"] ?? "") }));
  cdp.on("Network.loadingFinished", (e) => {
    const r = urls.get(e.requestId);
    if (r) files.push({ ...r, bytes: e.encodedDataLength });
  });
  const visit = async (go: () => Promise<unknown>): Promise<Load> => {
    files = [];
    const t0 = performance.now();
    await go();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    const ms = performance.now() - t0;
    await page.waitForLoadState("networkidle");
    return { bytes: files.reduce((n, f) => n + f.bytes, 0), files: [...files], ms };
  };
  const cold = await visit(() => page.goto(url));
  const warm = await visit(() => page.reload());
  await context.close();
  return { cold, warm };
}

const work = await mkdtemp(join(tmpdir(), "mf-bench-web-"));
try {
  // The baseline's web UI and the core types it imports, with this tree's node_modules.
  const before = join(work, "before");
  execFileSync("sh", ["-c", `mkdir -p ${before} && git -C ${repo} archive ${baseline} web core package.json | tar -x -C ${before}`]);
  await symlink(join(repo, "node_modules"), join(before, "node_modules"));
  execFileSync(join(repo, "node_modules/.bin/node"), [join(before, "web/build.ts"), join(before, "dist")], { stdio: "ignore" });
  const afterDir = join(work, "after");
  await buildWeb(afterDir);

  const a = await listen(async (req) => emptyApi(req) ?? plainFiles(join(before, "dist"))(req));
  const b = await listen(async (req) => emptyApi(req) ?? serveWebAsset(afterDir, new URL(req.url).pathname, req.headers));
  let c: { server: ServerType; url: string } | undefined;
  if (compare) {
    const prev = join(work, "compare");
    execFileSync("sh", ["-c", `mkdir -p ${prev} && git -C ${repo} archive ${compare} web core adapters package.json | tar -x -C ${prev}`]);
    await symlink(join(repo, "node_modules"), join(prev, "node_modules"));
    execFileSync(join(repo, "node_modules/.bin/node"), [join(prev, "web/build.ts"), join(prev, "dist")], { stdio: "ignore" });
    c = await listen(async (req) => emptyApi(req) ?? serveWebAsset(join(prev, "dist"), new URL(req.url).pathname, req.headers));
  }
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  const runs = { before: [] as { cold: Load; warm: Load }[], after: [] as { cold: Load; warm: Load }[], compare: [] as { cold: Load; warm: Load }[] };
  // Interleaved, so a busy machine slows all alike.
  for (let i = 0; i < rounds; i++) {
    runs.before.push(await load(browser, a.url));
    runs.after.push(await load(browser, b.url));
    if (c) runs.compare.push(await load(browser, c.url));
  }
  await browser.close();
  a.server.close();
  b.server.close();
  c?.server.close();

  const row = (name: string, loads: Load[]) => {
    const bytes = summarize(loads.map((l) => l.bytes)), ms = summarize(loads.map((l) => l.ms));
    return { name, bytes, ms, line: `| ${name} | ${fmtSummary(bytes)} | ${loads[0]!.files.length} | ${fmtSummary(ms)} |` };
  };
  const rows = [
    row(`before (${baseline}), first visit`, runs.before.map((r) => r.cold)),
    row("after, first visit", runs.after.map((r) => r.cold)),
    row(`before (${baseline}), reload`, runs.before.map((r) => r.warm)),
    row("after, reload", runs.after.map((r) => r.warm)),
    ...(compare ? [row(`${compare} (same delivery), first visit`, runs.compare.map((r) => r.cold)), row(`${compare} (same delivery), reload`, runs.compare.map((r) => r.warm))] : []),
  ];
  console.log(`Sign-in page, ${rounds} interleaved rounds each, Chromium ${execFileSync("/usr/bin/chromium", ["--version"]).toString().trim()}`);
  console.log("| load | bytes downloaded, median (min–max) | requests | ms to the sign-in heading, median (min–max) |");
  console.log("|---|---:|---:|---:|");
  for (const r of rows) console.log(r.line);
  const [bc, ac, bw, aw] = rows as [typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0]];
  console.log(`\nFirst visit: after / before = ${(ac.bytes.median / bc.bytes.median).toFixed(3)} in bytes (${fmtNum(bc.bytes.median)} → ${fmtNum(ac.bytes.median)}), ${(ac.ms.median / bc.ms.median).toFixed(2)} in time.`);
  console.log(`Reload: after / before = ${(aw.bytes.median / Math.max(1, bw.bytes.median)).toFixed(4)} in bytes (${fmtNum(bw.bytes.median)} → ${fmtNum(aw.bytes.median)}).`);
  if (compare) {
    const cc = rows[4]!;
    console.log(`First visit: after / ${compare} = ${(ac.bytes.median / cc.bytes.median).toFixed(3)} in bytes (${fmtNum(cc.bytes.median)} → ${fmtNum(ac.bytes.median)}), ${(ac.ms.median / cc.ms.median).toFixed(2)} in time.`);
  }
  console.log("\nFiles of the first visit:");
  for (const [name, r] of [["before", runs.before[0]!], ["after", runs.after[0]!], ...(compare ? [[compare, runs.compare[0]!] as const] : [])] as const) {
    for (const f of r.cold.files) console.log(`  ${name}: ${new URL(f.url).pathname} ${fmtNum(f.bytes)} B${f.encoding ? ` (${f.encoding})` : ""}`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
