import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readSync, fstatSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { JobEvent } from "../../core/jobs/model.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { systemClock } from "../../core/ports/clock.ts";
import { QueueNames, type QueueSender } from "../../core/ports/queue.ts";
import type { TrainingCompute } from "../../core/ports/training-compute.ts";

/** The trainer's process entry. */
export const TRAINER_MAIN = fileURLToPath(new URL("../../containers/trainer/main.ts", import.meta.url));

export interface ChildProcessComputeOptions {
  /** The platform's data directory: the trainer's DATA_DIR, and where run logs go (`trainer-logs/`). */
  dataDir: string;
  /** Where `exited` events go (the `job-events` queue). */
  queue: QueueSender;
  /** Trainers running at once (default 1); later submissions wait their turn, in order. */
  maxConcurrent?: number;
  /** Arguments to `node` (default: the trainer's main.ts). */
  command?: string[];
  /** Extra environment for the trainer, over this process's own. */
  env?: Record<string, string>;
  /** Between SIGTERM and SIGKILL when a run is cancelled or the compute stops (default 10 s). */
  killGraceMs?: number;
  clock?: Clock;
  /** Where a failure to send an exit event is reported (default: stderr). */
  onError?: (error: unknown) => void;
}

interface Run {
  id: string;
  jobId: string;
  attempt: number;
  specKey: string;
  child?: ChildProcess;
  cancelled?: boolean;
  exited?: Promise<void>;
}

/**
 * TrainingCompute on this machine: each attempt is a child `node` process in its own process
 * group, at most `maxConcurrent` at once. When a process ends (or a waiting run is cancelled)
 * an `exited` JobEvent goes to the job-events queue, as AWS Batch's state change does in the
 * cloud. Output goes to `$DATA_DIR/trainer-logs/{jobId}/attempt-{n}.log`.
 */
export class ChildProcessCompute implements TrainingCompute {
  readonly #options: Required<Omit<ChildProcessComputeOptions, "env">> & { env: Record<string, string> };
  readonly #waiting: Run[] = [];
  readonly #running = new Map<string, Run>();
  #stopped = false;

  constructor(options: ChildProcessComputeOptions) {
    const maxConcurrent = options.maxConcurrent ?? 1;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be a positive integer, got ${maxConcurrent}`);
    this.#options = {
      maxConcurrent,
      command: [TRAINER_MAIN],
      env: {},
      killGraceMs: 10_000,
      clock: systemClock,
      onError: (e) => process.stderr.write(`child-process-compute: ${String(e)}\n`),
      ...options,
    };
  }

  /** Queues the attempt and starts it when a slot is free; the id names it for cancel. */
  async submit(run: { jobId: string; attempt: number; specKey: string }): Promise<{ externalId: string }> {
    if (this.#stopped) throw new Error("the training compute is stopped");
    const id = `local-${run.jobId}-${run.attempt}-${randomBytes(4).toString("hex")}`;
    this.#waiting.push({ id, ...run });
    this.#pump();
    return { externalId: id };
  }

  /** Kills a running attempt's process group (SIGTERM, then SIGKILL after the grace), or drops a waiting one. */
  async cancel(externalId: string): Promise<void> {
    const waiting = this.#waiting.findIndex((r) => r.id === externalId);
    if (waiting >= 0) {
      const [run] = this.#waiting.splice(waiting, 1);
      await this.#sendExited(run!, null, "cancelled before it started");
      return;
    }
    const run = this.#running.get(externalId);
    if (!run) return;
    run.cancelled = true;
    await this.#kill(run);
  }

  /** Runs waiting and running, by id (for the platform's status and tests). */
  get counts(): { waiting: number; running: number } {
    return { waiting: this.#waiting.length, running: this.#running.size };
  }

  /** For shutdown: refuses new runs, ends the waiting ones, kills the running ones and waits for their exit events. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const run of this.#waiting.splice(0)) await this.#sendExited(run, null, "the platform stopped before it started");
    await Promise.all([...this.#running.values()].map((run) => this.#kill(run)));
  }

  #pump(): void {
    while (!this.#stopped && this.#running.size < this.#options.maxConcurrent && this.#waiting.length > 0) this.#start(this.#waiting.shift()!);
  }

  #start(run: Run): void {
    const { dataDir } = this.#options;
    const logDir = join(dataDir, "trainer-logs", run.jobId);
    mkdirSync(logDir, { recursive: true });
    const logPath = join(logDir, `attempt-${run.attempt}.log`);
    const fd = openSync(logPath, "a");
    let resolveExited!: () => void;
    run.exited = new Promise((resolve) => (resolveExited = resolve));
    this.#running.set(run.id, run);
    try {
      // detached: the child leads its own process group, so a cancel reaches whatever it started
      run.child = spawn(process.execPath, this.#options.command, {
        detached: true,
        stdio: ["ignore", fd, fd],
        env: { ...process.env, ...this.#options.env, JOB_SPEC_KEY: run.specKey, MF_RUNTIME: "local", DATA_DIR: dataDir },
      });
    } finally {
      closeSync(fd);
    }
    let done = false;
    const finish = async (code: number | null, reason: string) => {
      if (done) return;
      done = true;
      this.#running.delete(run.id);
      this.#pump();
      await this.#sendExited(run, code, reason);
      resolveExited();
    };
    run.child.on("error", (e) => void finish(null, `the trainer could not start: ${e.message}`));
    run.child.on("exit", (code, signal) => {
      const how = run.cancelled ? `cancelled (${signal ?? `exit code ${code}`})` : signal ? `killed by ${signal}` : `exited with code ${code}`;
      const last = code === 0 || run.cancelled ? "" : lastLine(logPath);
      void finish(code, last ? `${how}: ${last}` : how);
    });
  }

  async #kill(run: Run): Promise<void> {
    const pid = run.child?.pid;
    if (pid === undefined) return;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal);
      } catch {
        // the group has already gone
      }
    };
    signalGroup("SIGTERM");
    const timer = setTimeout(() => signalGroup("SIGKILL"), this.#options.killGraceMs);
    await run.exited;
    clearTimeout(timer);
    signalGroup("SIGKILL"); // anything the trainer left behind in its group
  }

  async #sendExited(run: Run, exitCode: number | null, reason: string): Promise<void> {
    const at = this.#options.clock.now();
    const event: JobEvent = { type: "exited", jobId: run.jobId, attempt: run.attempt, seq: at, at, exitCode, reason };
    try {
      await this.#options.queue.send(QueueNames.jobEvents, event);
    } catch (e) {
      this.#options.onError(e);
    }
  }
}

/** The last non-empty line of a log file (from its last 4 KiB), at most 500 characters. */
function lastLine(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, 4096));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    const line = buf.toString("utf8").split("\n").map((l) => l.trim()).filter(Boolean).at(-1) ?? "";
    return line.length > 500 ? `${line.slice(0, 499)}…` : line;
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
