/**
 * Contribution writes: what one ingested record costs in DynamoDB write units
 * and how the sharded key design spreads one upload over partitions, measured
 * on the items ingest really writes; then the ingest rate per upload those
 * numbers allow on AWS, as a calculation with its basis printed beside it, and
 * the upload size that fits one 15-minute ingest.
 *
 *   npm run bench:contribution-writes               # 20,000 records × 5 rounds
 *   BENCH_RECORDS=50000 BENCH_ROUNDS=3 npm run bench:contribution-writes
 *
 * Each round ingests the same generated JSONL upload (≈537 bytes a record,
 * the 2 GiB ≈ 4 million records of the issue) into a fresh sharded Datanet
 * and into a fresh Datanet with the pre-sharding layout, alternating which
 * goes first, on in-memory SQLite tables: the local records/s of the two are
 * compared in the same run (the sharding must not cost the local runtime).
 * Item sizes follow DynamoDB's sizing rules (attribute names and values in
 * UTF-8 bytes, numbers ≈1 byte per 2 significant digits + 1), rounded up to
 * 1 KB write units; a transactional write costs twice that.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DiskBlobStore } from "../adapters/local/disk-blob-store.ts";
import { SqliteTableStore } from "../adapters/local/sqlite-table-store.ts";
import { defaultConfig } from "../core/config.ts";
import { CONTRIBUTION_SHARDS } from "../core/datanets/contribution-layout.ts";
import { createDatanet } from "../core/datanets/datanets.ts";
import { datanetKey, uploadBlobKey } from "../core/datanets/keys.ts";
import { createUpload } from "../core/datanets/uploads.ts";
import type { CoreDeps } from "../core/deps.ts";
import { ingestObject } from "../core/ingest/ingest-object.ts";
import { systemClock } from "../core/ports/clock.ts";
import type { Item } from "../core/ports/tables.ts";
import { INGEST_WORK_SECONDS, MAX_UPLOAD_BYTES } from "../infra/lib/ingest-capacity.ts";

const RECORDS = Number(process.env.BENCH_RECORDS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const owner = { address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };

/** DynamoDB's documented limits and defaults that the calculation rests on. */
const BASIS = {
  partitionWriteUnitsPerSecond: 1_000,
  /** On-demand table-level quota (each table and each GSI; raisable by request). */
  tableWriteUnitsPerSecond: 40_000,
  /** What a new on-demand table (and GSI) serves at once before it has seen traffic. */
  newTableWarmWriteUnitsPerSecond: 4_000,
  /** The contributions table's pre-warmed write throughput (infra/lib/tables.ts), and its gsi1's. */
  prewarmedTableWriteUnitsPerSecond: 12_000,
  prewarmedIndexWriteUnitsPerSecond: 4_000,
};

// ---------------------------------------------------------------- the upload

/** ≈537-byte instruction records, all distinct (deterministic). */
function upload(records: number): Buffer {
  const words = "the of and to in data model train token adapter weight learn rate batch loss value query answer explain why how what".split(" ");
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  const text = (chars: number) => {
    let s = "";
    while (s.length < chars) s += `${words[Math.floor(rand() * words.length)]} `;
    return s.trim();
  };
  const lines: string[] = [];
  for (let i = 0; i < records; i++) lines.push(JSON.stringify({ instruction: `${i}: ${text(120)}`, input: text(60), output: text(300) }));
  return Buffer.from(lines.join("\n") + "\n");
}

function localDeps(dir: string): { deps: CoreDeps; db: DatabaseSync } {
  const db = new DatabaseSync(":memory:");
  return {
    db,
    deps: {
      tables: { main: new SqliteTableStore(db, "main", { stream: true }), contributions: new SqliteTableStore(db, "contributions", { stream: false }) },
      blobs: new DiskBlobStore({ root: join(dir, "blobs"), apiOrigin: "http://localhost:8787", secret: "bench" }),
      queue: { send: async () => undefined },
      clock: systemClock,
      config: { ...defaultConfig, maxUploadBytes: 4 * 1024 ** 3 },
    },
  };
}

/** Ingests `body` into a new Datanet, sharded or with the layout Datanets had before sharding; seconds and the contributions table's items. */
async function ingestOnce(dir: string, body: Buffer, layout: "sharded" | "legacy"): Promise<{ seconds: number; items: Item[]; datanetId: string }> {
  const { deps, db } = localDeps(dir);
  const datanet = await createDatanet(deps, owner, { name: "Bench", description: "", license: "CC-BY-4.0", schema: "instruction", visibility: "public", tags: [] });
  if (layout === "legacy") {
    const { contributionShards: _, ...item } = (await deps.tables.main.get(datanetKey(datanet.id)))!;
    await deps.tables.main.put(item);
  }
  const sha256 = createHash("sha256").update(body).digest("hex");
  const { uploadId } = await createUpload(deps, owner, datanet.id, { filename: "data.jsonl", contentType: "application/jsonl", size: body.length, sha256 });
  const key = uploadBlobKey(datanet.id, uploadId);
  await deps.blobs.put(key, body);
  const started = performance.now();
  const result = await ingestObject(deps, { key, size: body.length });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== "done" || result.accepted !== RECORDS) throw new Error(`unexpected ${JSON.stringify(result)}`);
  const items = (db.prepare("SELECT data FROM items_contributions").all() as { data: string }[]).map((r) => JSON.parse(r.data) as Item);
  db.close();
  return { seconds, items, datanetId: datanet.id };
}

// ---------------------------------------------------------------- DynamoDB sizes

/** An attribute value's size by DynamoDB's rules (strings and names in UTF-8 bytes). */
function valueSize(v: unknown): number {
  if (typeof v === "string") return Buffer.byteLength(v);
  if (typeof v === "number") {
    const digits = String(Math.abs(v)).replace(/[.-]|e.*$/g, "").replace(/^0+/, "").length || 1;
    return Math.ceil(digits / 2) + 1;
  }
  if (typeof v === "boolean" || v === null) return 1;
  if (Array.isArray(v)) return 3 + v.reduce((n: number, e) => n + 1 + valueSize(e), 0);
  if (typeof v === "object") return 3 + Object.entries(v as object).reduce((n, [k, e]) => n + 1 + Buffer.byteLength(k) + valueSize(e), 0);
  return 0;
}
const itemSize = (item: Item) => Object.entries(item).reduce((n, [k, v]) => n + Buffer.byteLength(k) + valueSize(v), 0);
const writeUnits = (bytes: number) => Math.ceil(bytes / 1024);

// ---------------------------------------------------------------- stats

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const range = (xs: number[], digits = 0) => `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;

/** Per partition key: how many items of one kind one upload put there; the hottest one's share. */
function spread(items: Item[], keyOf: (item: Item) => string | undefined): { partitions: number; hottestShare: number } {
  const counts = new Map<string, number>();
  for (const item of items) {
    const key = keyOf(item);
    if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return { partitions: counts.size, hottestShare: Math.max(...counts.values()) / total };
}

// ---------------------------------------------------------------- main

const dir = await mkdtemp(join(tmpdir(), "mf-bench-cw-"));
try {
  const body = upload(RECORDS);
  const bytesPerRecord = body.length / RECORDS;
  const times = { sharded: [] as number[], legacy: [] as number[] };
  let last: { sharded?: Item[]; legacy?: Item[] } = {};
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order, so neither layout always runs on a warmer process.
    for (const layout of round % 2 === 0 ? (["sharded", "legacy"] as const) : (["legacy", "sharded"] as const)) {
      const run = await ingestOnce(join(dir, `${round}-${layout}`), body, layout);
      times[layout].push(RECORDS / run.seconds);
      last = { ...last, [layout]: run.items };
    }
  }
  const items = last.sharded!;
  const rows = items.filter((i) => i.sk.startsWith("C#"));
  const claims = items.filter((i) => i.sk.startsWith("H#"));
  // gsi1 projects ALL: an index entry holds the whole item.
  const rowUnits = rows.map((i) => writeUnits(itemSize(i)));
  const claimUnits = claims.map((i) => 2 * writeUnits(itemSize(i)));
  const perRecord = { row: median(rowUnits), index: median(rowUnits), claim: median(claimUnits) };
  const tableUnits = perRecord.row + perRecord.claim;
  const rowSpread = spread(rows, (i) => i.pk);
  const indexSpread = spread(rows, (i) => i.gsi1pk as string);
  const claimSpread = spread(claims, (i) => i.pk);
  const legacyRows = last.legacy!.filter((i) => i.sk.startsWith("C#"));

  // Records/s each limit allows one upload (writing alone to the table).
  const p = BASIS.partitionWriteUnitsPerSecond;
  const limits = {
    "hottest row partition": p / (perRecord.row * rowSpread.hottestShare),
    "hottest index partition": p / (perRecord.index * indexSpread.hottestShare),
    "hottest claim partition": p / (perRecord.claim * claimSpread.hottestShare),
    "table quota (row + claim)": BASIS.tableWriteUnitsPerSecond / tableUnits,
    "index quota": BASIS.tableWriteUnitsPerSecond / perRecord.index,
    "pre-warmed table": BASIS.prewarmedTableWriteUnitsPerSecond / tableUnits,
    "pre-warmed index": BASIS.prewarmedIndexWriteUnitsPerSecond / perRecord.index,
  };
  const legacyRate = Math.min(p / tableUnits, p / perRecord.index);
  const coldRate = Math.min(BASIS.newTableWarmWriteUnitsPerSecond / tableUnits, BASIS.newTableWarmWriteUnitsPerSecond / perRecord.index);
  const designRate = Math.min(...Object.values(limits));
  const binding = Object.entries(limits).find(([, v]) => v === designRate)![0];
  const recordsIn = (rate: number) => rate * INGEST_WORK_SECONDS;
  const gib = (bytes: number) => bytes / 1024 ** 3;

  console.log(`# Contribution writes: ${fmt(RECORDS)} records of ${fmt(bytesPerRecord)} bytes, ${ROUNDS} rounds`);
  console.log(`machine: ${cpus().length}× ${cpus()[0]?.model ?? "?"}, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}, Node ${process.version}\n`);
  console.log("## Write units per accepted record (measured item sizes, DynamoDB rules)");
  console.log(`contribution row: ${fmt(median(rows.map(itemSize)))} B median (max ${fmt(Math.max(...rows.map(itemSize)))} B) → ${perRecord.row} WCU (BatchWriteItem)`);
  console.log(`gsi1 entry (projection ALL): the row's size → ${perRecord.index} WCU on the index`);
  console.log(`content-hash claim: ${fmt(median(claims.map(itemSize)))} B → ${perRecord.claim} WCU (in TransactWriteItems: 2 × ${perRecord.claim / 2})`);
  console.log(`total: ${tableUnits} WCU on the table + ${perRecord.index} on the index = ${tableUnits + perRecord.index} per record\n`);
  console.log("## One upload's spread (sharded layout)");
  console.log(`rows: ${rowSpread.partitions} partitions, hottest ${fmt(100 * rowSpread.hottestShare, 2)}% of them (1/${CONTRIBUTION_SHARDS} = ${fmt(100 / CONTRIBUTION_SHARDS, 2)}%)`);
  console.log(`index rows: ${indexSpread.partitions} partitions, hottest ${fmt(100 * indexSpread.hottestShare, 2)}%`);
  console.log(`claims: ${claimSpread.partitions} partitions, hottest ${fmt(100 * claimSpread.hottestShare, 2)}%`);
  console.log(`pre-sharding layout: rows and claims in ${spread(last.legacy!, (i) => i.pk).partitions} partition, index rows in ${spread(legacyRows, (i) => i.gsi1pk as string).partitions}\n`);
  console.log("## Records/s one upload may write, per limit");
  for (const [name, rate] of Object.entries(limits)) console.log(`${name}: ${fmt(rate)}`);
  console.log(`→ design rate ${fmt(designRate)} records/s (bound by the ${binding})`);
  console.log(`new table before pre-warming (${fmt(BASIS.newTableWarmWriteUnitsPerSecond)} WCU/s each): ${fmt(coldRate)} records/s`);
  console.log(`pre-sharding layout (one partition, ${p} WCU/s): ${fmt(legacyRate)} records/s\n`);
  console.log(`## What fits one ingest (${INGEST_WORK_SECONDS} s of work in a 15-minute invocation)`);
  for (const [name, rate] of [["design", designRate], ["new table", coldRate], ["pre-sharding", legacyRate]] as const) {
    const records = recordsIn(rate);
    console.log(`${name}: ${fmt(records)} records = ${fmt(gib(records * bytesPerRecord), 2)} GiB; 2 GiB (${fmt((2 * 1024 ** 3) / bytesPerRecord)} records) takes ${fmt((2 * 1024 ** 3) / bytesPerRecord / rate / 60, 1)} min`);
  }
  console.log(`stack MAX_UPLOAD_BYTES: ${fmt(MAX_UPLOAD_BYTES)} (${fmt(gib(MAX_UPLOAD_BYTES), 2)} GiB) = ${fmt(MAX_UPLOAD_BYTES / bytesPerRecord)} records at this size, ${fmt(MAX_UPLOAD_BYTES / bytesPerRecord / designRate)} s at the design rate\n`);
  console.log("## Local ingest (in-memory SQLite), records/s, median (min–max)");
  console.log(`sharded: ${range(times.sharded)}; pre-sharding layout: ${range(times.legacy)}; ratio ${fmt(median(times.sharded) / median(times.legacy), 2)}×`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
