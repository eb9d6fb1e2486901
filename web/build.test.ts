import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWeb } from "./build.ts";
import { serveWebAsset } from "./serve.ts";

/** The web build and how the local runtime serves it: hashed names, compression, cache headers, no public maps. */
describe("web build and delivery", () => {
  let dir: string;
  let files: string[];
  let script: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mf-web-build-"));
    await buildWeb(dir);
    files = (await readdir(dir, { recursive: true })).map(String);
    script = /src="\.\/(assets\/app-[A-Z0-9]+\.js)"/.exec(await readFile(join(dir, "index.html"), "utf8"))![1]!;
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) => serveWebAsset(dir, path, new Headers(headers));

  it("names the entry script and stylesheet by content hash, and writes no source map by default", async () => {
    const html = await readFile(join(dir, "index.html"), "utf8");
    expect(html).toMatch(/href="\.\/assets\/styles-[A-Z0-9]+\.css"/);
    expect(files).toContain(script);
    expect(files.filter((f) => f.endsWith(".map"))).toEqual([]);
    expect(await readFile(join(dir, script), "utf8")).not.toContain("sourceMappingURL");
  });

  it("keeps ethers out of the entry script: the wallet code is a chunk loaded on use", async () => {
    const entry = await readFile(join(dir, script), "utf8");
    const chunks = files.filter((f) => /^assets[/\\]chunks[/\\].*\.js$/.test(f));
    // ethers names itself in its user agent ("ethers/${version}"): the marker of its code wherever it lands.
    const marker = "`ethers/${";
    const withEthers = [];
    for (const c of chunks) if ((await readFile(join(dir, c), "utf8")).includes(marker)) withEthers.push(c);
    expect(entry).not.toContain(marker);
    expect(withEthers.length).toBeGreaterThan(0);
    expect(entry).toMatch(/import\("\.\/chunks\/wallets-[A-Z0-9]+\.js"\)/);
  });

  it("sends Brotli or gzip as the client accepts, with the same bytes inside", async () => {
    const raw = await readFile(join(dir, script));
    const br = await get(`/${script}`, { "accept-encoding": "gzip, deflate, br" });
    expect(br.headers.get("content-encoding")).toBe("br");
    expect(br.headers.get("vary")).toBe("accept-encoding");
    const brBody = Buffer.from(await br.arrayBuffer());
    expect(brBody.length).toBeLessThan(raw.length / 2);
    expect(brotliDecompressSync(brBody).equals(raw)).toBe(true);
    const gz = await get(`/${script}`, { "accept-encoding": "gzip" });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    expect(gunzipSync(Buffer.from(await gz.arrayBuffer())).equals(raw)).toBe(true);
    const plain = await get(`/${script}`, { "accept-encoding": "br;q=0, identity" });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(Buffer.from(await plain.arrayBuffer()).equals(raw)).toBe(true);
  });

  it("caches hashed assets for a year and revalidates index.html", async () => {
    const asset = await get(`/${script}`);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const index = await get("/");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const etag = index.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    expect((await get("/", { "if-none-match": etag })).status).toBe(304);
    // A client route is index.html too.
    expect(await (await get("/datanets/dn_1")).text()).toContain(script);
  });

  it("answers 404 for a missing asset or a path out of the folder, never index.html", async () => {
    expect((await get("/assets/app-NOPE.js")).status).toBe(404);
    expect((await get(`/${script}.map`)).status).toBe(404);
    // Leading "../" (plain or percent-encoded) is dropped: this is the client route "package.json", answered with index.html.
    for (const path of ["/assets/../../package.json", "/assets/%2e%2e/%2e%2e/package.json", "/..%2f..%2fpackage.json"]) {
      const body = await (await get(path)).text();
      expect(body, path).toContain(script);
      expect(body, path).not.toContain("devDependencies");
    }
  });
});
