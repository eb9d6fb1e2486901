// The trainer process as the compute runs it: local runtime, killed and restarted, stopped by SIGTERM.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { DiskBlobStore } from "../../adapters/local/disk-blob-store.ts";
import { SqliteQueue } from "../../adapters/local/sqlite-queue.ts";
import { JobEvent } from "../../core/jobs/model.ts";
import { systemClock } from "../../core/ports/clock.ts";
import { readBlob } from "./blob-files.ts";
import { runTrainer } from "./run-trainer.ts";
import { putJob, recordingQueue } from "./test-fixtures.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const dataDir = mkdtempSync(join(tmpdir(), "mf-trainer-main-"));
  dirs.push(dataDir);
  const blobs = new DiskBlobStore({ root: join(dataDir, "blobs"), apiOrigin: "http://localhost", secret: "s" });
  return { dataDir, blobs };
}

/** Runs main.ts; `onLine` may kill it. Resolves with exit code, signal and the log. */
function runMain(env: Record<string, string>, onLine: (line: string, child: ReturnType<typeof spawn>) => void = () => {}) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; log: string }>((resolve) => {
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let log = "", buf = "";
    child.stdout.on("data", (d: Buffer) => {
      log += d;
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, nl), child);
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr.on("data", (d: Buffer) => (log += d));
    child.on("exit", (code, signal) => resolve({ code, signal, log }));
  });
}

/** The job events the trainer process left in the local job-events queue. */
async function queuedEvents(dataDir: string): Promise<JobEvent[]> {
  const db = new DatabaseSync(join(dataDir, "platform.db"));
  try {
    const messages = await new SqliteQueue(db).receive("job-events", { maxMessages: 1000 });
    return messages.map((m) => JobEvent.parse(JSON.parse(m.body)));
  } finally {
    db.close();
  }
}

const checkpointUploaded = (line: string) => line.includes('"message":"checkpoint uploaded"');

describe("trainer process (main.ts)", () => {
  it("killed after a checkpoint and started again, resumes from it and writes the adapter of an uninterrupted run", async () => {
    // Prepare
    const { dataDir, blobs } = setup();
    const { specKey } = await putJob(blobs, { jobId: "job_k" });
    const { specKey: fullKey } = await putJob(blobs, { jobId: "job_full" });
    const env = { MF_RUNTIME: "local", DATA_DIR: dataDir, JOB_SPEC_KEY: specKey };
    // Act
    const killed = await runMain(env, (line, child) => checkpointUploaded(line) && child.kill("SIGKILL"));
    const resumed = await runMain(env);
    await runTrainer({ blobs, queue: recordingQueue(), clock: systemClock }, fullKey, { workDir: join(dataDir, "trainer") });
    // Assess
    expect(killed.signal, killed.log).toBe("SIGKILL");
    expect(resumed.code, resumed.log).toBe(0);
    const events = await queuedEvents(dataDir);
    const started = events.filter((e) => e.type === "started");
    expect(started).toHaveLength(2);
    expect(started[0]!.type === "started" && started[0]!.resumedFromStep).toBeNull();
    expect(started[1]!.type === "started" && started[1]!.resumedFromStep).toBeGreaterThanOrEqual(4);
    expect(events.at(-1)!.type).toBe("succeeded");
    // restarted in the same attempt, the seqs still only go up
    for (let i = 1; i < events.length; i++) expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq);
    const weights = (job: string) => readBlob(blobs, `jobs/${job}/adapter/adapter_model.safetensors`);
    expect((await weights("job_k"))!.equals((await weights("job_full"))!)).toBe(true);
  });

  it("on SIGTERM stops after its checkpoint and exits 143, leaving the outcome to the compute", async () => {
    const { dataDir, blobs } = setup();
    const { specKey } = await putJob(blobs, { training: { maxSteps: 40 } });
    let sentAt = 0;
    const result = await runMain({ MF_RUNTIME: "local", DATA_DIR: dataDir, JOB_SPEC_KEY: specKey }, (line, child) => {
      if (checkpointUploaded(line) && !sentAt) {
        sentAt = Date.now();
        child.kill("SIGTERM");
      }
    });
    expect(result.code, result.log).toBe(143);
    expect(Date.now() - sentAt).toBeLessThan(5000);
    expect((await queuedEvents(dataDir)).map((e) => e.type)).not.toContain("failed");
    expect(result.log).toMatch(/stopped at step \d+; resumes from the checkpoint at step \d+/);
    expect(await blobs.head("jobs/job_1/checkpoints/checkpoint.safetensors")).toBeDefined();
    expect(await blobs.head("jobs/job_1/adapter/adapter_model.safetensors")).toBeUndefined();
  });

  it("exits 2 naming what is missing from its environment, and 3 for a job that cannot succeed", async () => {
    const { dataDir, blobs } = setup();
    const bad = await runMain({ MF_RUNTIME: "local", DATA_DIR: dataDir, JOB_SPEC_KEY: "" });
    expect(bad.code).toBe(2);
    expect(bad.log).toContain("JOB_SPEC_KEY");
    const { specKey } = await putJob(blobs, { lines: ["{}"] });
    const noRecords = await runMain({ MF_RUNTIME: "local", DATA_DIR: dataDir, JOB_SPEC_KEY: specKey });
    expect(noRecords.code, noRecords.log).toBe(3);
  });
});
