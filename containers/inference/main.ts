// The inference service process: `node containers/inference/main.ts`.
//   MF_RUNTIME=local  DATA_DIR       tables in $DATA_DIR/platform.db, blobs in $DATA_DIR/blobs (the platform's own)
//   MF_RUNTIME=aws    TABLE_MAIN, TABLE_CONTRIBUTIONS, BUCKET (region and credentials from the task role)
//   BACKEND=embedded (default): the engine in this process, on the committed base model or MODEL_DIR
//   BACKEND=vllm      VLLM_URL: a gateway in front of vLLM (the GPU task), adapters staged in ADAPTER_DIR
// PORT (default 8788; 0 = any), HOST (default 127.0.0.1), ADAPTER_BUDGET_MB, ATTRIBUTION_CACHE_MB, MAX_RUNNING, MAX_QUEUED,
// PER_KEY_LIMIT, PER_MODEL_LIMIT, REQUEST_TIMEOUT_S. Started by the local platform as a child with an IPC
// channel, it reports {type: "listening", port} there; logs are JSON lines on stdout.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { z } from "zod";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { BASE_MODEL_DIR, loadHfModel } from "../engine/index.ts";
import { attributionHook, baseModelShape, sharedSpanAttributor } from "./attribution-hook.ts";
import { EmbeddedBackend } from "./embedded-backend.ts";
import { INFLIGHT_METRIC } from "./scaling-metric.ts";
import { startInferenceServer } from "./server.ts";
import { apiKeyAuthorizer } from "./api-key-authorizer.ts";
import { paymentAuthorizer } from "./payment-authorizer.ts";
import { localPayments } from "./payments-setup.ts";
import { usageHook } from "./usage-hook.ts";
import type { PaymentsDeps } from "../../core/payments/paid-calls.ts";
import { VllmBackend } from "./vllm-backend.ts";

const int = (d: number) => z.coerce.number().int().nonnegative().default(d);
const Env = z.object({
  MF_RUNTIME: z.enum(["local", "aws"]).default("local"),
  DATA_DIR: z.string().min(1).optional(),
  TABLE_MAIN: z.string().optional(),
  TABLE_CONTRIBUTIONS: z.string().optional(),
  BUCKET: z.string().optional(),
  BACKEND: z.enum(["embedded", "vllm"]).default("embedded"),
  BASE_MODEL_ID: z.string().default("mf-tiny-sotu"),
  MODEL_DIR: z.string().optional(),
  VLLM_URL: z.url().optional(),
  ADAPTER_DIR: z.string().optional(),
  ADAPTER_BUDGET_MB: z.coerce.number().positive().default(256),
  // Span indexes held in memory (attribution-hook.ts); one evicted is read from the blob store again by its adapter's next call.
  ATTRIBUTION_CACHE_MB: z.coerce.number().positive().default(64),
  MAX_LORAS: int(32),
  PORT: int(8788),
  HOST: z.string().default("127.0.0.1"),
  MAX_RUNNING: int(32),
  MAX_QUEUED: int(256),
  PER_KEY_LIMIT: int(64),
  PER_MODEL_LIMIT: int(128),
  REQUEST_TIMEOUT_S: int(120),
  SETTLEMENT_EPOCH_SECONDS: z.coerce.number().int().positive().default(60),
  SETTLEMENT_GRACE_SECONDS: int(10),
});

function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
}

const parsed = Env.safeParse(process.env);
if (!parsed.success) {
  log("error", "inference environment is invalid", { issues: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`) });
  process.exit(2);
}
const env = parsed.data;

async function ports(): Promise<{ tables: Tables; blobs: BlobStore; workDir: string; payments?: PaymentsDeps; close(): void }> {
  if (env.MF_RUNTIME === "local") {
    if (!env.DATA_DIR) throw new Error("DATA_DIR is required with MF_RUNTIME=local");
    const [{ SqliteTableStore }, { DiskBlobStore }] = await Promise.all([import("../../adapters/local/sqlite-table-store.ts"), import("../../adapters/local/disk-blob-store.ts")]);
    // The platform has the same database open: WAL and a busy timeout let both use it.
    const db = new DatabaseSync(join(env.DATA_DIR, "platform.db"));
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
    // Only the platform writes the main table's stream; this process only reads.
    const tables = { main: new SqliteTableStore(db, "main", { stream: true }), contributions: new SqliteTableStore(db, "contributions", { stream: false }) };
    const secretPath = join(env.DATA_DIR, "secret");
    const secret = existsSync(secretPath) ? Buffer.from(readFileSync(secretPath, "utf8").trim(), "hex") : randomBytes(32);
    const blobs = new DiskBlobStore({ root: join(env.DATA_DIR, "blobs"), apiOrigin: "http://localhost", secret });
    // Pay-per-call: the platform's usage table and chain (its settlement periods: SETTLEMENT_EPOCH_SECONDS, SETTLEMENT_GRACE_SECONDS).
    const payments = localPayments({ dataDir: env.DATA_DIR, db, epochSeconds: env.SETTLEMENT_EPOCH_SECONDS, graceSeconds: env.SETTLEMENT_GRACE_SECONDS });
    return { tables, blobs, workDir: env.ADAPTER_DIR ?? join(env.DATA_DIR, "inference", "adapters"), payments, close: () => db.close() };
  }
  if (!env.TABLE_MAIN || !env.TABLE_CONTRIBUTIONS || !env.BUCKET) throw new Error("TABLE_MAIN, TABLE_CONTRIBUTIONS and BUCKET are required with MF_RUNTIME=aws");
  const [{ DynamoDBClient }, { DynamoDBDocumentClient }, { S3Client }, { DynamoTableStore, documentClientOptions }, { S3BlobStore }] = await Promise.all([
    import("@aws-sdk/client-dynamodb"),
    import("@aws-sdk/lib-dynamodb"),
    import("@aws-sdk/client-s3"),
    import("../../adapters/aws/dynamo-table-store.ts"),
    import("../../adapters/aws/s3-blob-store.ts"),
  ]);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), documentClientOptions);
  return {
    tables: { main: new DynamoTableStore(doc, env.TABLE_MAIN), contributions: new DynamoTableStore(doc, env.TABLE_CONTRIBUTIONS) },
    blobs: new S3BlobStore(new S3Client({}), env.BUCKET),
    workDir: env.ADAPTER_DIR ?? "/tmp/openlora/adapters",
    close: () => {},
  };
}

const { tables, blobs, workDir, payments, close } = await ports();
// One span attribution per call, for the response and the usage record alike. The gradient method
// runs after the response on the usage stream where the platform runs it (local, embedded engine).
const span = sharedSpanAttributor({ tables, blobs, log, cacheBytes: env.ATTRIBUTION_CACHE_MB * 1024 * 1024, baseModel: (id) => (id === env.BASE_MODEL_ID ? baseModelShape(env.MODEL_DIR ?? BASE_MODEL_DIR) : undefined) });
const server = await startInferenceServer({
  tables,
  blobs,
  // Per-call attribution (span, synchronous) on every adapter call; docs/attribution.md.
  ...(payments ? { authorizer: paymentAuthorizer({ tables, payments, inner: apiKeyAuthorizer({ tables }) }) } : {}),
  hooks: [
    ...(payments ? [usageHook({ tables, payments, attribute: span, asyncAttribution: env.MF_RUNTIME === "local" && env.BACKEND === "embedded" })] : []),
    attributionHook({ tables, blobs, log, baseModel: (id) => (id === env.BASE_MODEL_ID ? baseModelShape(env.MODEL_DIR ?? BASE_MODEL_DIR) : undefined), attribute: span }),
  ],
  port: env.PORT,
  hostname: env.HOST,
  admission: { maxRunning: env.MAX_RUNNING, maxQueued: env.MAX_QUEUED, perPrincipal: env.PER_KEY_LIMIT, perModel: env.PER_MODEL_LIMIT },
  requestTimeoutMs: env.REQUEST_TIMEOUT_S * 1000,
  log,
  backend: ({ catalog, metrics }) => {
    const blobKeys = (id: string) => catalog().files(id);
    if (env.BACKEND === "vllm") {
      if (!env.VLLM_URL) throw new Error("VLLM_URL is required with BACKEND=vllm");
      return new VllmBackend({ url: env.VLLM_URL, baseModelId: env.BASE_MODEL_ID, adapterDir: workDir, maxLoras: env.MAX_LORAS, blobs, blobKeys, events: metrics });
    }
    const loaded = loadHfModel(env.MODEL_DIR ?? BASE_MODEL_DIR);
    return new EmbeddedBackend({
      baseModelId: env.BASE_MODEL_ID,
      loaded,
      cache: { budgetBytes: env.ADAPTER_BUDGET_MB * 1024 * 1024, diskDir: workDir, blobs, blobKeys },
      scheduler: { maxSequences: env.MAX_RUNNING, maxBatch: 64 },
      events: metrics,
    });
  },
});
log("info", "inference service listening", { url: server.url, backend: server.backend.name, pid: process.pid });
process.send?.({ type: "listening", port: server.port });

if (env.MF_RUNTIME === "aws") {
  // The service's scaling signal: calls in flight (running + queued) per task, as a CloudWatch
  // metric in embedded metric format on stdout (the task's log driver carries it to CloudWatch;
  // the VPC has a Logs endpoint and no monitoring one). infra/lib/inference.ts tracks it.
  setInterval(() => {
    const a = server.service.admission;
    process.stdout.write(`${JSON.stringify({ _aws: { Timestamp: Date.now(), CloudWatchMetrics: [{ Namespace: INFLIGHT_METRIC.namespace, Dimensions: [["Service"]], Metrics: [{ Name: INFLIGHT_METRIC.name, Unit: "Count" }] }] }, Service: INFLIGHT_METRIC.service, [INFLIGHT_METRIC.name]: a.running + a.queued })}\n`);
  }, 10_000).unref();
}

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    log("info", "stopping: finishing running calls", { signal });
    await server.stop(10_000);
    close();
    process.exit(0);
  });
}
// the platform that started us is gone: do not linger as an orphan holding the database
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"));
