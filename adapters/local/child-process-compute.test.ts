import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { JobEvent } from "../../core/jobs/model.ts";
import type { QueueName, QueueSender } from "../../core/ports/queue.ts";
import { ChildProcessCompute } from "./child-process-compute.ts";

// A stand-in trainer: JOB_SPEC_KEY says what to do ("exit:<code>", "sleep:<ms>", "fork-and-hang").
const FAKE_TRAINER = `
import { spawn } from "node:child_process";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const { JOB_SPEC_KEY: what, DATA_DIR: dir, MF_RUNTIME } = process.env;
const mark = (s) => appendFileSync(join(dir, "marks"), \`\${s} \${what} \${Date.now()}\\n\`);
console.log(\`env \${what} \${MF_RUNTIME} \${dir}\`);
mark("start");
const [cmd, arg] = what.split(":");
if (cmd === "exit") { console.error("about to fail: disk on fire"); process.exit(Number(arg)); }
if (cmd === "sleep") setTimeout(() => { mark("end"); process.exit(0); }, Number(arg));
if (cmd === "fork-and-hang") {
  const grandchild = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  writeFileSync(join(dir, "grandchild.pid"), String(grandchild.pid));
  process.on("SIGTERM", () => {}); // ignores SIGTERM: the compute must follow up with SIGKILL
  setInterval(() => {}, 1000);
}
`;

const dirs: string[] = [];
const computes: ChildProcessCompute[] = [];
afterEach(async () => {
  for (const c of computes.splice(0)) await c.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup(options: { maxConcurrent?: number; killGraceMs?: number } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "mf-compute-"));
  dirs.push(dataDir);
  const script = join(dataDir, "fake-trainer.mjs");
  writeFileSync(script, FAKE_TRAINER);
  const sent: { queue: QueueName; body: unknown }[] = [];
  const queue: QueueSender = { send: async (q, body) => void sent.push({ queue: q, body }) };
  const compute = new ChildProcessCompute({ dataDir, queue, command: [script], ...options });
  computes.push(compute);
  const exits = () => sent.filter((m) => m.queue === "job-events").map((m) => JobEvent.parse(m.body));
  const waitForExits = async (n: number, timeoutMs = 10_000) => {
    const until = Date.now() + timeoutMs;
    while (exits().length < n) {
      if (Date.now() > until) throw new Error(`waited for ${n} exit events, got ${exits().length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return exits();
  };
  const marks = () => (existsSync(join(dataDir, "marks")) ? readFileSync(join(dataDir, "marks"), "utf8").trim().split("\n").map((l) => l.split(" ")) : []);
  return { dataDir, compute, waitForExits, marks };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("ChildProcessCompute", () => {
  it("runs the trainer with its environment, logs its output and sends an exited event with code and last log line", async () => {
    const { dataDir, compute, waitForExits } = setup();
    const { externalId } = await compute.submit({ jobId: "job_a", attempt: 2, specKey: "exit:3" });
    expect(externalId).toMatch(/^local-job_a-2-/);
    const [exited] = await waitForExits(1);
    expect(exited).toMatchObject({ type: "exited", jobId: "job_a", attempt: 2, exitCode: 3, reason: "exited with code 3: about to fail: disk on fire" });
    const log = readFileSync(join(dataDir, "trainer-logs/job_a/attempt-2.log"), "utf8");
    expect(log).toContain(`env exit:3 local ${dataDir}`);
  });

  it("sends exit code 0 with a plain reason on success", async () => {
    const { compute, waitForExits } = setup();
    await compute.submit({ jobId: "job_ok", attempt: 1, specKey: "exit:0" });
    expect((await waitForExits(1))[0]).toMatchObject({ exitCode: 0, reason: "exited with code 0" });
  });

  it("runs at most maxConcurrent at once, the others in submission order", async () => {
    const { compute, waitForExits, marks } = setup({ maxConcurrent: 2 });
    for (const [i, ms] of [300, 300, 100, 100].entries()) await compute.submit({ jobId: `job_${i}`, attempt: 1, specKey: `sleep:${ms}` });
    expect(compute.counts).toEqual({ waiting: 2, running: 2 });
    await waitForExits(4);
    let running = 0, most = 0;
    const starts: string[] = [];
    for (const [kind, what] of marks().sort((a, b) => Number(a[2]) - Number(b[2]) || (a[0] === "end" ? -1 : 1))) {
      running += kind === "start" ? 1 : -1;
      most = Math.max(most, running);
      if (kind === "start") starts.push(what!);
    }
    expect(most).toBe(2);
    expect(starts.slice(0, 2).sort()).toEqual(["sleep:300", "sleep:300"]);
    expect(starts.slice(2)).toEqual(["sleep:100", "sleep:100"]);
  });

  it("cancel kills the whole process group, SIGKILL after the grace when SIGTERM is ignored", async () => {
    const { dataDir, compute, waitForExits } = setup({ killGraceMs: 300 });
    const { externalId } = await compute.submit({ jobId: "job_c", attempt: 1, specKey: "fork-and-hang" });
    const pidFile = join(dataDir, "grandchild.pid");
    while (!existsSync(pidFile) || !readFileSync(pidFile, "utf8")) await new Promise((r) => setTimeout(r, 20));
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    expect(alive(grandchild)).toBe(true);
    await compute.cancel(externalId);
    const [exited] = await waitForExits(1);
    expect(exited).toMatchObject({ jobId: "job_c", exitCode: null, reason: "cancelled (SIGKILL)" });
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(grandchild)).toBe(false);
    await compute.cancel(externalId); // harmless once ended
  });

  it("a cancelled waiting run never starts; stop ends running and waiting runs with exit events", async () => {
    const { compute, waitForExits, marks } = setup({ maxConcurrent: 1 });
    await compute.submit({ jobId: "job_long", attempt: 1, specKey: "sleep:20000" });
    const { externalId } = await compute.submit({ jobId: "job_wait", attempt: 1, specKey: "sleep:10" });
    await compute.submit({ jobId: "job_later", attempt: 1, specKey: "sleep:10" });
    await compute.cancel(externalId);
    while (marks().length === 0) await new Promise((r) => setTimeout(r, 20));
    await compute.stop();
    const exits = await waitForExits(3);
    expect(exits.map((e) => [e.jobId, e.type === "exited" && e.reason])).toEqual([
      ["job_wait", "cancelled before it started"],
      ["job_later", "the platform stopped before it started"],
      ["job_long", expect.stringMatching(/^killed by SIGTERM/)],
    ]);
    expect(marks().map((m) => m[1])).toEqual(["sleep:20000"]);
    await expect(compute.submit({ jobId: "x", attempt: 1, specKey: "exit:0" })).rejects.toThrow(/stopped/);
  });
});
