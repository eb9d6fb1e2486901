// A cache of what bench:attribution trains, so a scoring change re-runs in seconds instead of a
// fine-tune (issue 11): each data seed's adapter, span index and record sketches, in a folder
// named by a hash of everything that determines them:
//   - the training records themselves (so the data seed, the set's size and augmentation, and
//     the planted-facts code that wrote them),
//   - the recipe (LoRA and training settings after the bench's overrides, prompt noise, loss
//     mask, sketch options),
//   - the source of the code that trains and sketches: every file reachable by relative imports
//     from the engine's training, checkpoint and PEFT modules, the trainer's record formatting and
//     sketching, the attribution index and projection, and the job defaults (core/jobs), plus
//     the kernels' binaries and the base model's files (config, weights, tokenizer).
// A key that matches means the same bytes would be trained again; any edit to those files (a
// kernel change, a recipe default) is a different key and a fresh fine-tune. The folder is
// test-output/attribution-cache (ignored by git) unless ATTRIBUTION_CACHE names another;
// ATTRIBUTION_CACHE=off disables it.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The entry points whose import closure determines a fine-tune, its index and its sketches. */
const ENTRIES = [
  "containers/engine/train.ts", "containers/engine/train-graph.ts", "containers/engine/lora.ts", "containers/engine/peft.ts",
  "containers/engine/packing.ts", "containers/engine/checkpoint.ts", "containers/engine/model.ts", "containers/engine/tokenizer.ts",
  "containers/trainer/gradient-sketch.ts", "containers/trainer/attribution-files.ts", "containers/trainer/records.ts", "containers/trainer/prompt-noise.ts",
  "core/attribution/span-index.ts", "core/attribution/projection.ts",
  "core/jobs/recipe.ts", "core/jobs/model.ts", "core/jobs/base-models.ts",
];
/** Folders whose every non-test file counts (binaries loaded by path, not by import). */
const WHOLE_DIRS = ["containers/engine/kernels", "containers/engine/base-model"];

/** Barrels that only re-export: not followed (they would pull in serving and scoring code), the modules used through them are entries. */
const BARRELS = new Set(["containers/engine/index.ts", "core/attribution/index.ts"]);

const IMPORT = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']|new URL\(\s*["'](\.{1,2}\/[^"']+)["']/g;

/** The repository-relative files of the closure, sorted. */
export function sourceFiles(): string[] {
  const seen = new Set<string>();
  const visit = (rel: string) => {
    if (seen.has(rel) || BARRELS.has(rel)) return;
    const abs = join(ROOT, rel);
    if (!existsSync(abs)) throw new Error(`attribution cache: ${rel} does not exist (the cache's entry list is out of date)`);
    seen.add(rel);
    if (!rel.endsWith(".ts")) return;
    for (const m of readFileSync(abs, "utf8").matchAll(IMPORT)) {
      const target = relative(ROOT, resolve(dirname(abs), m[1] ?? m[2]!));
      if (existsSync(join(ROOT, target)) && statSync(join(ROOT, target)).isFile()) visit(target);
    }
  };
  for (const e of ENTRIES) visit(e);
  for (const d of WHOLE_DIRS)
    for (const f of readdirSync(join(ROOT, d))) {
      const rel = `${d}/${f}`;
      if (!f.includes(".test.") && statSync(join(ROOT, rel)).isFile()) visit(rel);
    }
  return [...seen].sort();
}

/** SHA-256 over each source file's path and bytes. */
export function sourceHash(files = sourceFiles()): string {
  const h = createHash("sha256");
  for (const f of files) h.update(`${f}\0`).update(readFileSync(join(ROOT, f))).update("\0");
  return h.digest("hex");
}

export interface CacheMeta {
  /** What the fine-tune did when it ran. */
  steps: number;
  seconds: number;
  loss: number;
  tokens: number;
  /** The git commit the tree was at and when (the source hash, not the commit, is the key). */
  commit: string;
  trainedAt: string;
  loadAverage: number[];
}

export class AttributionCache {
  readonly dir: string | null;
  readonly key: string;
  constructor(determinants: unknown, dirOverride = process.env.ATTRIBUTION_CACHE) {
    this.dir = dirOverride === "off" ? null : resolve(dirOverride ?? join(ROOT, "test-output", "attribution-cache"));
    this.key = createHash("sha256").update(JSON.stringify({ determinants, source: sourceHash() })).digest("hex").slice(0, 24);
  }
  private get entry(): string {
    return join(this.dir!, this.key);
  }
  /** The entry's folder when it is complete (meta.json is written last), else null. */
  lookup(): string | null {
    if (!this.dir) return null;
    return existsSync(join(this.entry, "meta.json")) ? this.entry : null;
  }
  meta(): CacheMeta {
    return JSON.parse(readFileSync(join(this.entry, "meta.json"), "utf8")) as CacheMeta;
  }
  /** A file of a complete entry, or null when the entry or the file is missing. */
  file(name: string): Uint8Array | null {
    const at = this.lookup();
    return at && existsSync(join(at, name)) ? readFileSync(join(at, name)) : null;
  }
  /** Adds a file to a complete entry (written beside, then renamed: never half a file). */
  addFile(name: string, bytes: Uint8Array): void {
    const at = this.lookup();
    if (!at) return;
    const tmp = join(at, `${name}.tmp-${process.pid}`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, join(at, name));
  }
  /** Writes an entry atomically: into a temporary sibling, renamed into place once whole. */
  store(write: (dir: string) => void, meta: CacheMeta): string | null {
    if (!this.dir) return null;
    const tmp = `${this.entry}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      write(tmp);
      writeFileSync(join(tmp, "meta.json"), JSON.stringify(meta, null, 2));
      rmSync(this.entry, { recursive: true, force: true });
      renameSync(tmp, this.entry);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return this.entry;
  }
}
