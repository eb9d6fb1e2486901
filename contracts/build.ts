/**
 * Compiles contracts/src with solc-js (offline: the compiler is inside the
 * `solc` package) and writes ABI + bytecode to contracts/artifacts/, with the
 * hash of everything that went in, so a build is skipped when nothing changed.
 *
 *   npm run contracts:build            # compile when sources changed
 *   npm run contracts:build -- --force # compile anyway
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const srcDir = join(root, "contracts", "src");
const outDir = join(root, "contracts", "artifacts");

/** Compiler settings; part of the source hash, so changing them forces a rebuild. */
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // Cancun is what most EVM chains run today; EDR runs it too.
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

export interface Artifact {
  contractName: string;
  sourceName: string;
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
}

/** Every .sol file under contracts/src, as `contracts/src/...` paths with their text. */
function readSources(): Record<string, { content: string }> {
  const sources: Record<string, { content: string }> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".sol")) sources[relative(root, path)] = { content: readFileSync(path, "utf8") };
    }
  };
  walk(srcDir);
  return sources;
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")) as { version: string }).version;
}

/** Hash of the sources, compiler version, OpenZeppelin version and settings. */
export function sourceHash(): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ solc: packageVersion("solc"), oz: packageVersion("@openzeppelin/contracts"), SETTINGS }));
  for (const [path, { content }] of Object.entries(readSources())) h.update(`${path}\0${content}\0`);
  return h.digest("hex");
}

/** The hash the committed artifacts were built from, or undefined when there are none. */
export function builtHash(): string | undefined {
  const info = join(outDir, "build-info.json");
  if (!existsSync(info)) return undefined;
  return (JSON.parse(readFileSync(info, "utf8")) as { sourceHash: string }).sourceHash;
}

/** Compiles when the artifacts are missing or stale (or `force`); returns whether it compiled. */
export function buildContracts(options: { force?: boolean } = {}): boolean {
  const hash = sourceHash();
  if (!options.force && builtHash() === hash) return false;
  const solc = require("solc") as { compile(input: string, callbacks: object): string; version(): string };
  const input = { language: "Solidity", sources: readSources(), settings: SETTINGS };
  const findImports = (path: string) => {
    try {
      return { contents: readFileSync(require.resolve(path), "utf8") };
    } catch {
      return { error: `not found: ${path}` };
    }
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join("\n")}`);
  for (const w of output.errors ?? []) console.warn(w.formattedMessage);

  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const names: string[] = [];
  for (const [sourceName, contracts] of Object.entries(output.contracts)) {
    if (!sourceName.startsWith("contracts/")) continue; // libraries are inlined into ours
    for (const [contractName, c] of Object.entries(contracts)) {
      if (!c.evm.bytecode.object) continue; // interfaces and abstract contracts
      const artifact: Artifact = {
        contractName,
        sourceName,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
      };
      writeFileSync(join(outDir, `${contractName}.json`), JSON.stringify(artifact, null, 1) + "\n");
      names.push(contractName);
    }
  }
  names.sort();
  writeFileSync(join(outDir, "index.ts"), indexModule(names));
  writeFileSync(
    join(outDir, "build-info.json"),
    JSON.stringify({ sourceHash: hash, solc: solc.version(), settings: SETTINGS, contracts: names }, null, 2) + "\n",
  );
  return true;
}

/** A module that imports every artifact as JSON, so bundlers (esbuild for Lambda) carry them along. */
function indexModule(names: string[]): string {
  const lines = [
    "// Generated by contracts/build.ts; do not edit.",
    'import type { Artifact } from "../build.ts";',
    ...names.map((n) => `import ${n} from "./${n}.json" with { type: "json" };`),
    "",
    "/** ABI and bytecode of every contract, by name. */",
    `export const artifacts = { ${names.join(", ")} } as unknown as Record<${names.map((n) => JSON.stringify(n)).join(" | ")}, Artifact>;`,
    "export type ContractName = keyof typeof artifacts;",
    "",
  ];
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const started = performance.now();
  const compiled = buildContracts({ force: process.argv.includes("--force") });
  console.log(compiled ? `compiled in ${Math.round(performance.now() - started)} ms` : "contracts up to date");
}
