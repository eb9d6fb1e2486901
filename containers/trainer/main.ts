// The trainer process: `node containers/trainer/main.ts` with the job spec's blob key in
// JOB_SPEC_KEY. Exit 0 when the adapter is written; 1 when the run failed and a retry may help,
// 3 when it cannot (bad input), 2 for a bad environment; 143 when stopped by SIGTERM (Batch stop
// or Spot reclaim) after handing over its last checkpoint.
//   MF_RUNTIME=local  DATA_DIR      blobs in $DATA_DIR/blobs, events to $DATA_DIR/platform.db's job-events queue
//   MF_RUNTIME=aws    BUCKET, JOB_EVENTS_QUEUE_URL (region and credentials from the task role)
//   TRAINER_BACKEND   engine | torch | auto (default): auto trains with PyTorch where its torch sees a CUDA GPU
//   TRAINER_PYTHON    the interpreter with torch for the torch backend (default python3)
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { z } from "zod";
import { systemClock } from "../../core/ports/clock.ts";
import { runTrainer, type TrainerDeps } from "./run-trainer.ts";
import { resolveBackend, TrainerBackendChoice, torchSeesCuda } from "./torch-backend.ts";

const Backend = { TRAINER_BACKEND: TrainerBackendChoice.default("auto"), TRAINER_PYTHON: z.string().min(1).default("python3") };
const Env = z.discriminatedUnion("MF_RUNTIME", [
  z.object({ MF_RUNTIME: z.literal("local"), JOB_SPEC_KEY: z.string().min(1), DATA_DIR: z.string().min(1), TRAINER_WORK_DIR: z.string().optional(), ...Backend }),
  z.object({ MF_RUNTIME: z.literal("aws"), JOB_SPEC_KEY: z.string().min(1), BUCKET: z.string().min(1), JOB_EVENTS_QUEUE_URL: z.url(), TRAINER_WORK_DIR: z.string().optional(), ...Backend }),
]);
type Env = z.infer<typeof Env>;

/** One JSON line per log entry on stdout (the compute keeps it: a log file locally, CloudWatch on AWS). */
function log(message: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), message, ...fields })}\n`);
}

async function deps(env: Env): Promise<{ deps: TrainerDeps; workDir: string; close: () => void }> {
  if (env.MF_RUNTIME === "local") {
    const { DiskBlobStore } = await import("../../adapters/local/disk-blob-store.ts");
    const { SqliteQueue } = await import("../../adapters/local/sqlite-queue.ts");
    // The platform process has the same database open: WAL and a busy timeout let both write.
    const db = new DatabaseSync(join(env.DATA_DIR, "platform.db"));
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
    const secretPath = join(env.DATA_DIR, "secret");
    // The trainer signs no upload URLs; the store only needs a key to exist.
    const secret = existsSync(secretPath) ? Buffer.from(readFileSync(secretPath, "utf8").trim(), "hex") : randomBytes(32);
    const blobs = new DiskBlobStore({ root: join(env.DATA_DIR, "blobs"), apiOrigin: "http://localhost", secret });
    return { deps: { blobs, queue: new SqliteQueue(db), clock: systemClock }, workDir: env.TRAINER_WORK_DIR ?? join(env.DATA_DIR, "trainer"), close: () => db.close() };
  }
  const [{ S3Client }, { SQSClient }, { S3BlobStore }, { SqsQueueSender }] = await Promise.all([
    import("@aws-sdk/client-s3"),
    import("@aws-sdk/client-sqs"),
    import("../../adapters/aws/s3-blob-store.ts"),
    import("../../adapters/aws/sqs-queue-sender.ts"),
  ]);
  return {
    deps: { blobs: new S3BlobStore(new S3Client({}), env.BUCKET), queue: new SqsQueueSender(new SQSClient({}), { "job-events": env.JOB_EVENTS_QUEUE_URL }), clock: systemClock },
    workDir: env.TRAINER_WORK_DIR ?? "/tmp/mf-trainer",
    close: () => {},
  };
}

const parsed = Env.safeParse(process.env);
if (!parsed.success) {
  log("trainer environment is incomplete", { issues: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`) });
  process.exit(2);
}
const env = parsed.data;
const stop = new AbortController();
let signalled: NodeJS.Signals | null = null;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (signalled) process.exit(128 + 15); // a second signal: leave now
    signalled = signal;
    log("stopping after the current step", { signal });
    stop.abort();
  });
}

const { deps: trainerDeps, workDir, close } = await deps(env);
const { backend, reason } = resolveBackend(env.TRAINER_BACKEND, () => torchSeesCuda(env.TRAINER_PYTHON));
log("trainer starting", { specKey: env.JOB_SPEC_KEY, runtime: env.MF_RUNTIME, pid: process.pid, backend, backendReason: reason });
const outcome = await runTrainer(trainerDeps, env.JOB_SPEC_KEY, { workDir, signal: stop.signal, log, backend, torch: { python: env.TRAINER_PYTHON } });
log("trainer finished", outcome);
close();
process.exit(outcome.status === "succeeded" ? 0 : outcome.status === "stopped" ? 143 : outcome.retryable ? 1 : 3);
