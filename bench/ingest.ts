/**
 * Ingest benchmark: throughput (records/s, MB/s) and peak memory of
 * `ingestObject` on generated JSONL files, with the local adapters (SQLite
 * tables on a file database in WAL mode, the disk blob store).
 *
 *   npm run bench:ingest                      # 100 MB and 1 GB
 *   BENCH_SIZES_MB=10,100 npm run bench:ingest
 *   BENCH_DIR=/mnt/fast npm run bench:ingest  # where the files go (default: the OS temp dir)
 *   BENCH_SQLITE_PRAGMAS="PRAGMA synchronous=OFF;" npm run bench:ingest  # on top of the local runtime's pragmas
 *
 * Each size is generated in one child process and ingested in another, so the
 * ingest's peak RSS is its own.
 * Files are removed afterwards (BENCH_KEEP=1 keeps them).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { once } from "node:events";
import { DiskBlobStore } from "../adapters/local/disk-blob-store.ts";
import { SqliteTableStore } from "../adapters/local/sqlite-table-store.ts";
import { defaultConfig } from "../core/config.ts";
import { createDatanet } from "../core/datanets/datanets.ts";
import { uploadBlobKey } from "../core/datanets/keys.ts";
import { createUpload } from "../core/datanets/uploads.ts";
import type { CoreDeps } from "../core/deps.ts";
import { ingestObject } from "../core/ingest/ingest-object.ts";
import { systemClock } from "../core/ports/clock.ts";

const MB = 1024 ** 2;
const owner = { address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };

interface Result {
  sizeMb: number;
  records: number;
  accepted: number;
  rejected: number;
  seconds: number;
  rssBeforeMb: number;
  peakRssMb: number;
  maxRssMb: number;
}

if (process.argv[2] === "--prepare") {
  const prepared = await prepare(Number(process.argv[3]), process.argv[4]!);
  process.stdout.write(`RESULT ${JSON.stringify(prepared)}\n`);
} else if (process.argv[2] === "--ingest") {
  const result = await ingest(process.argv[3]!, JSON.parse(process.argv[4]!) as Prepared);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
} else {
  await main();
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES_MB ?? "100,1024").split(",").map(Number);
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "mf-bench-ingest-"));
  const results: Result[] = [];
  try {
    for (const size of sizes) {
      const sizeDir = join(dir, `${size}mb`);
      process.stderr.write(`generating ${size} MB …\n`);
      const prepared = child<Prepared>(["--prepare", String(size), sizeDir]);
      process.stderr.write(`ingesting ${size} MB …\n`);
      results.push(child<Result>(["--ingest", sizeDir, JSON.stringify(prepared)]));
      if (!process.env.BENCH_KEEP) await rm(sizeDir, { recursive: true, force: true });
    }
  } finally {
    if (!process.env.BENCH_KEEP) await rm(dir, { recursive: true, force: true });
  }
  printTable(results);
}

/** Runs this script in a fresh process (so its peak RSS is its own) and returns its RESULT line. */
function child<T>(args: string[]): T {
  const run = spawnSync(process.execPath, [import.meta.filename, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 16 * MB,
  });
  const line = run.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (run.status !== 0 || !line) throw new Error(`bench step ${args[0]} failed (exit ${run.status})`);
  return JSON.parse(line.slice(7)) as T;
}

interface Prepared {
  key: string;
  size: number;
  records: number;
}

/** The local runtime's deps over the files in `dir`. */
function localDeps(dir: string): { deps: CoreDeps; db: DatabaseSync } {
  const db = new DatabaseSync(join(dir, "platform.db"));
  // The local runtime's pragmas (local/platform.ts), plus any the caller adds.
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;" + (process.env.BENCH_SQLITE_PRAGMAS ?? ""));
  const deps: CoreDeps = {
    tables: {
      main: new SqliteTableStore(db, "main", { stream: true }),
      contributions: new SqliteTableStore(db, "contributions", { stream: false }),
    },
    blobs: new DiskBlobStore({ root: join(dir, "blobs"), apiOrigin: "http://localhost:8787", secret: "bench" }),
    queue: { send: async () => undefined },
    clock: systemClock,
    config: { ...defaultConfig, maxUploadBytes: 4 * 1024 ** 3 },
  };
  return { deps, db };
}

/** Generates the file, creates the Datanet and the upload, and stores the body as the signed PUT would. */
async function prepare(sizeMb: number, dir: string): Promise<Prepared> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, "data.jsonl");
  const { sha256, records } = await generate(file, sizeMb * MB);
  const size = (await stat(file)).size;
  const { deps, db } = localDeps(dir);
  const datanet = await createDatanet(deps, owner, {
    name: "Benchmark",
    description: "",
    license: "CC-BY-4.0",
    schema: "instruction",
    visibility: "public",
    tags: [],
  });
  const { uploadId } = await createUpload(deps, owner, datanet.id, { filename: "data.jsonl", contentType: "application/jsonl", size, sha256 });
  const key = uploadBlobKey(datanet.id, uploadId);
  await deps.blobs.put(key, createReadStream(file));
  await rm(file);
  db.close();
  return { key, size, records };
}

/** Ingests the prepared upload in this (fresh) process and measures it. */
async function ingest(dir: string, prepared: Prepared): Promise<Result> {
  const { deps, db } = localDeps(dir);
  // Sample RSS while ingesting; maxRSS is the whole process's peak.
  let peakRss = process.memoryUsage().rss;
  const rssBefore = peakRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 25);
  const started = performance.now();
  const result = await ingestObject(deps, { key: prepared.key, size: prepared.size });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  if (result.status !== "done" || result.accepted + result.rejected !== prepared.records) {
    throw new Error(`unexpected result ${JSON.stringify(result)} for ${prepared.records} records`);
  }
  db.close();
  return {
    sizeMb: prepared.size / MB,
    records: prepared.records,
    accepted: result.accepted,
    rejected: result.rejected,
    seconds,
    rssBeforeMb: rssBefore / MB,
    peakRssMb: peakRss / MB,
    // maxRSS is in kibibytes.
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

/**
 * Writes ~`bytes` of instruction records (≈600 bytes each on average): 0.5%
 * exact duplicates of an earlier record, 0.5% malformed lines. Deterministic.
 */
async function generate(file: string, bytes: number): Promise<{ sha256: string; records: number }> {
  const words = "the of and to in data model train token adapter weight learn rate batch loss value query answer explain why how what".split(" ");
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const sentence = (n: number) => Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(" ");
  const out = createWriteStream(file);
  const hash = createHash("sha256");
  let written = 0;
  let records = 0;
  let buffer = "";
  while (written + buffer.length < bytes) {
    records++;
    let line: string;
    if (records % 200 === 0) line = `{"instruction": "broken record ${records}", "output": }`;
    else if (records % 100 === 0) line = JSON.stringify({ instruction: `Question ${records - 50}`, output: "dup" });
    else if (records % 100 === 50) line = JSON.stringify({ instruction: `Question ${records}`, output: "dup" });
    else {
      line = JSON.stringify({
        instruction: `Question ${records}: ${sentence(8 + Math.floor(rand() * 16))}?`,
        ...(rand() < 0.3 ? { input: sentence(10 + Math.floor(rand() * 20)) } : {}),
        output: sentence(40 + Math.floor(rand() * 80)),
      });
    }
    buffer += line + "\n";
    if (buffer.length >= 1 * MB) {
      hash.update(buffer);
      written += buffer.length;
      if (!out.write(buffer)) await once(out, "drain");
      buffer = "";
    }
  }
  hash.update(buffer);
  out.end(buffer);
  await once(out, "finish");
  return { sha256: hash.digest("hex"), records };
}

function printTable(results: Result[]): void {
  const rows = results.map((r) => [
    `${r.sizeMb.toFixed(0)} MB`,
    r.records.toLocaleString("en-US"),
    `${r.accepted.toLocaleString("en-US")} / ${r.rejected.toLocaleString("en-US")}`,
    r.seconds.toFixed(1),
    Math.round(r.records / r.seconds).toLocaleString("en-US"),
    (r.sizeMb / r.seconds).toFixed(1),
    r.rssBeforeMb.toFixed(0),
    r.peakRssMb.toFixed(0),
    r.maxRssMb.toFixed(0),
  ]);
  const header = ["file", "records", "accepted / rejected", "seconds", "records/s", "MB/s", "RSS before (MB)", "peak RSS ingesting (MB)", "maxRSS (MB)"];
  console.log(`| ${header.join(" | ")} |`);
  console.log(`| ${header.map(() => "---").join(" | ")} |`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  console.log(`\nload average ${loadavg().map((l) => l.toFixed(1)).join(" ")} at the end; Node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"} × ${cpus().length}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM`);
}
