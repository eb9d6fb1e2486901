import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const webDir = dirname(fileURLToPath(import.meta.url));

/** Where the local runtime serves the built UI from by default. */
export const WEB_DIST_DIR = join(webDir, "dist");

/**
 * Bundles the single-page app into `outDir`: index.html, app.js (+ map) and
 * styles.css. One esbuild pass, a fraction of a second, so the local runtime
 * calls it at every start instead of shipping a stale bundle.
 */
export async function buildWeb(outDir: string = WEB_DIST_DIR): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { app: join(webDir, "src", "main.ts") },
    outdir: outDir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022", "chrome110", "firefox115", "safari16"],
    minify: true,
    sourcemap: "linked",
    legalComments: "linked",
    logLevel: "silent",
    // ethers and the merkle-tree library reach for Node globals only behind
    // feature checks; pinning these keeps the browser bundle free of shims.
    define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
  });
  await Promise.all([
    copyFile(join(webDir, "src", "index.html"), join(outDir, "index.html")),
    copyFile(join(webDir, "src", "styles.css"), join(outDir, "styles.css")),
  ]);
}

// `npx node web/build.ts` builds into web/dist/.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  await buildWeb(process.argv[2] ?? WEB_DIST_DIR);
  console.log(`web built in ${Math.round(performance.now() - started)} ms`);
}
