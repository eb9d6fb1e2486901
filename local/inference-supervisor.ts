// The inference service as a child process of the local platform (as trainers are): started with
// the platform's data directory, restarted with backoff when it dies, stopped with the platform.
// The child reports the port it listens on over its IPC channel; `url` is null while there is
// none, so the proxy answers 503 instead of waiting on a dead port.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The inference service's process entry. */
export const INFERENCE_MAIN = fileURLToPath(new URL("../containers/inference/main.ts", import.meta.url));

export interface InferenceSupervisorOptions {
  dataDir: string;
  /** Arguments to `node` (default: the service's main.ts). */
  command?: string[];
  /** Extra environment over this process's own (e.g. ADAPTER_BUDGET_MB). */
  env?: Record<string, string>;
  /** First restart delay; doubles per quick death up to 10 s (default 200 ms). */
  restartDelayMs?: number;
  onLog?: (message: string) => void;
}

export class InferenceSupervisor {
  readonly #o: Required<InferenceSupervisorOptions>;
  #child: ChildProcess | null = null;
  #url: string | null = null;
  #stopped = false;
  #delay: number;
  #restarts = 0;
  #waiters: Array<(url: string) => void> = [];

  constructor(o: InferenceSupervisorOptions) {
    this.#o = { command: [INFERENCE_MAIN], env: {}, restartDelayMs: 200, onLog: (m) => process.stderr.write(`inference: ${m}\n`), ...o };
    this.#delay = this.#o.restartDelayMs;
  }

  /** Where the service listens now, or null while it is (re)starting. */
  get url(): string | null { return this.#url; }
  /** The child's pid (tests kill it to prove the restart). */
  get pid(): number | undefined { return this.#child?.pid; }
  get restarts(): number { return this.#restarts; }

  start(): void {
    if (this.#child || this.#stopped) return;
    const logDir = join(this.#o.dataDir, "inference-logs");
    mkdirSync(logDir, { recursive: true });
    const log = openSync(join(logDir, "inference.log"), "a");
    const startedAt = Date.now();
    const child = spawn(process.execPath, this.#o.command, {
      env: { ...process.env, ...this.#o.env, MF_RUNTIME: "local", DATA_DIR: this.#o.dataDir, PORT: "0", HOST: "127.0.0.1" },
      stdio: ["ignore", log, log, "ipc"],
    });
    closeSync(log);
    this.#child = child;
    child.on("message", (m: { type?: string; port?: number }) => {
      if (m?.type !== "listening" || typeof m.port !== "number") return;
      this.#url = `http://127.0.0.1:${m.port}`;
      for (const w of this.#waiters.splice(0)) w(this.#url);
    });
    child.on("exit", (code, signal) => {
      this.#child = null;
      this.#url = null;
      if (this.#stopped) return;
      // a process that lived a while gets a quick restart; one that dies at start backs off
      this.#delay = Date.now() - startedAt > 30_000 ? this.#o.restartDelayMs : Math.min(this.#delay * 2, 10_000);
      this.#o.onLog(`exited (${signal ?? code}); restarting in ${this.#delay} ms (log: ${join(logDir, "inference.log")})`);
      this.#restarts++;
      setTimeout(() => this.start(), this.#delay).unref();
    });
  }

  /** Resolves with the URL once the service listens. */
  ready(timeoutMs = 60_000): Promise<string> {
    if (this.#url) return Promise.resolve(this.#url);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the inference service did not start within ${timeoutMs} ms (see inference-logs/inference.log)`)), timeoutMs);
      this.#waiters.push((url) => { clearTimeout(t); resolve(url); });
    });
  }

  /** SIGTERM (running calls finish), SIGKILL after `graceMs`. */
  async stop(graceMs = 12_000): Promise<void> {
    this.#stopped = true;
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(t);
  }
}
