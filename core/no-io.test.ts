import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * ARCHITECTURE: `core/` holds domain types, use cases and ports only; network
 * and file I/O live in adapters/. This reads every runtime module of core
 * (tests and test scaffolding aside) and names each import that breaks it.
 */

const CORE = import.meta.dirname;

// Modules that do network or file I/O, and the outer layers core must not reach into.
const forbidden = [
  /^node:(fs|fs\/promises|dns|dns\/promises|http|https|http2|tls|dgram|child_process)$/,
  /^(fs|dns|http|https|net|tls|child_process)$/,
  /^undici$/,
  /^@aws-sdk\//,
  /^hono(\/|$)/,
];
// The outer layers, which depend on core and never the other way round.
const OUTER = ["adapters", "api", "functions", "local", "containers", "infra"].map((d) => join(CORE, "..", d) + sep);

/** Whether an import specifier of the module at `from` breaks the rule. */
function isForbidden(spec: string, from: string): boolean {
  if (spec.startsWith(".")) return OUTER.some((outer) => resolve(dirname(from), spec).startsWith(outer));
  return forbidden.some((rule) => rule.test(spec));
}
// node:net is allowed for its pure address helpers only.
const NET_PURE = new Set(["BlockList", "isIP", "isIPv4", "isIPv6"]);

function runtimeModules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return runtimeModules(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") && !entry.name.includes("test-support") ? [path] : [];
  });
}

function offendingImports(path: string): string[] {
  const source = readFileSync(path, "utf8");
  const found: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\s+(type\s+)?([^;]*?)\s+from\s+"([^"]+)"/gm)) {
    const [, typeOnly, names, spec] = m as unknown as [string, string | undefined, string, string];
    if (typeOnly) continue; // erased at build time: no I/O can follow from it
    if (spec === "node:net" || spec === "net") {
      const used = names.replace(/[{}]/g, "").split(",").map((n) => n.trim().replace(/^type\s+/, "")).filter(Boolean);
      if (used.every((n) => NET_PURE.has(n))) continue;
    }
    if (isForbidden(spec, path) || spec === "node:net" || spec === "net") found.push(spec);
  }
  for (const m of source.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) {
    if (isForbidden(m[1]!, path)) found.push(m[1]!);
  }
  return found;
}

describe("core does no I/O", () => {
  it("imports no network, file-system, AWS, HTTP-framework or adapter module at run time", () => {
    const offences = runtimeModules(CORE).flatMap((path) => offendingImports(path).map((spec) => `${relative(CORE, path)} imports ${spec}`));
    expect(offences).toEqual([]);
  });

  it("would notice one (the check itself can fail)", () => {
    const probe = join(CORE, "webhooks", "dispatch.ts");
    expect(offendingImports(probe)).toEqual([]);
    expect(isForbidden("undici", probe)).toBe(true);
    expect(isForbidden("node:dns/promises", probe)).toBe(true);
    expect(isForbidden("../../adapters/local/sqlite-table-store.ts", probe)).toBe(true);
    // core/adapters holds the LoRA adapter domain, not the ports' implementations.
    expect(isForbidden("../adapters/adapters.ts", probe)).toBe(false);
  });
});
