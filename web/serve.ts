import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".map": "application/json",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".wasm": "application/wasm",
};

/** A year, the most HTTP caches keep anything: hashed files never change, so they never need asking again. */
const IMMUTABLE = "public, max-age=31536000, immutable";
/** index.html names the current hashes, so the browser asks for it each time (a 304 when unchanged). */
const REVALIDATE = "no-cache";

/**
 * Serves the built web UI (web/build.ts) from `dir`:
 * - `/assets/*` are content-hashed: cached for a year as immutable;
 * - any other path is a client route and gets index.html, revalidated each time (ETag, 304);
 * - a Brotli or gzip copy is sent when the client accepts it (Vary: Accept-Encoding);
 * - paths cannot leave `dir`, and an asset that is not there is a 404 (not
 *   index.html, which a browser would try to run as a script).
 */
export async function serveWebAsset(dir: string, path: string, headers: Pick<Headers, "get">): Promise<Response> {
  const relativePath = normalize(decodeURIComponentSafe(path)).replace(/^(\.\.(\/|\\|$))+/, "").replace(/^[/\\]+/, "");
  const isAsset = relativePath.startsWith(`assets${sep}`) || relativePath.startsWith("assets/");
  const file = isAsset ? relativePath : "index.html";
  const full = join(dir, file);
  if (!full.startsWith(join(dir, sep)) && full !== join(dir, "index.html")) return notFound();
  const encodings = accepted(headers.get("accept-encoding") ?? undefined);
  // index.html's validator: its build time and size (a new build changes both in practice).
  const etag = isAsset ? undefined : await stat(full).then((st) => `"${st.mtimeMs.toString(36)}-${st.size.toString(36)}"`, () => undefined);
  if (etag && headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag, "cache-control": REVALIDATE, vary: "accept-encoding" } });
  for (const [encoding, suffix] of [["br", ".br"], ["gzip", ".gz"], [undefined, ""]] as const) {
    if (encoding && !encodings.has(encoding)) continue;
    const body = await readFile(full + suffix).catch(() => undefined);
    if (!body) continue;
    const out: Record<string, string> = {
      "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
      "cache-control": isAsset ? IMMUTABLE : REVALIDATE,
      vary: "accept-encoding",
      "x-content-type-options": "nosniff",
    };
    if (encoding) out["content-encoding"] = encoding;
    if (etag) out.etag = etag;
    return new Response(new Uint8Array(body), { headers: out });
  }
  return isAsset ? notFound() : new Response("web UI not built", { status: 404 });
}

/** The codings a client accepts (q=0 excluded). */
function accepted(header: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (header ?? "").split(",")) {
    const [name = "", ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    if (name && (!q || Number(q.slice(2)) > 0)) out.add(name);
  }
  return out;
}

function decodeURIComponentSafe(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function notFound(): Response {
  return new Response("not found", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
}
