import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EthersChain } from "../../adapters/chain/ethers-chain.ts";
import { DevClient } from "../../local/dev-client.ts";
import { CAPITALS } from "../../local/demo/capitals.ts";
import { startPlatform, type Platform } from "../../local/platform.ts";

/**
 * The Model Factory end to end on the local platform: a Datanet upload, a
 * published version, a fine-tune job run by the trainer in a child process,
 * the adapter registered on the local chain — and a trainer killed mid-run
 * that resumes from its checkpoint.
 */

interface JobView {
  id: string;
  status: string;
  attempts: number;
  error: string | null;
  adapterId: string | null;
  progress: { step: number; totalSteps: number } | null;
  metrics: { evalLoss: number | null; baseEvalLoss: number | null; trainTokens: number } | null;
  lossCurve: { step: number; loss: number }[];
}

async function waitForJob(client: DevClient, id: string, until: (job: JobView) => boolean, timeoutMs = 240_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.request<JobView>("GET", `/v1/jobs/${id}`);
    if (until(job)) return job;
    if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The trainer processes this test process started (the platform runs in it). */
function trainerPids(): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(process.pid)], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe("Model Factory end to end on the local platform", () => {
  let dataDir: string;
  let platform: Platform;
  let owner: DevClient;
  let datanetId: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mf-e2e-jobs-"));
    platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT", jobSweepIntervalMs: 2_000 });
    owner = new DevClient(platform.url);
    await owner.signIn(new Wallet(Wallet.createRandom().privateKey));
    const contributor = new DevClient(platform.url);
    await contributor.signIn(new Wallet(Wallet.createRandom().privateKey));
    const datanet = await owner.request<{ id: string }>("POST", "/v1/datanets", {
      name: "World capitals",
      license: "CC-BY-4.0",
      schema: "instruction",
      tags: ["geography"],
    });
    datanetId = datanet.id;
    const line = ([country, capital]: readonly [string, string]) =>
      JSON.stringify({ instruction: `What is the capital of ${country}?`, output: `The capital of ${country} is ${capital}.` });
    const half = CAPITALS.length / 2;
    for (const [client, rows] of [[owner, CAPITALS.slice(0, half)], [contributor, CAPITALS.slice(half)]] as const) {
      const id = await client.upload(datanetId, "capitals.jsonl", "application/x-ndjson", Buffer.from(rows.map(line).join("\n")));
      expect(await client.waitForUpload(datanetId, id)).toMatchObject({ status: "done", rejected: 0 });
    }
    await owner.request("POST", `/v1/datanets/${datanetId}/versions`);
    await platform.idle(); // the version reaches the chain before any adapter refers to it
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses jobs on unknown versions and invalid hyper-parameters with clear 4xx", async () => {
    await expect(owner.request("POST", "/v1/jobs", { datanets: [{ id: datanetId, version: 9 }] })).rejects.toMatchObject({ status: 404 });
    await expect(owner.request("POST", "/v1/jobs", { datanets: [{ id: "dn_nope", version: 1 }] })).rejects.toMatchObject({ status: 404 });
    const bad = owner.request("POST", "/v1/jobs", { datanets: [{ id: datanetId, version: 1 }], training: { learningRate: -1 } });
    await expect(bad).rejects.toMatchObject({ status: 400, problem: { type: expect.stringMatching(/validation-failed$/) } });
  });

  it("fine-tunes an adapter that beats the base model on held-out records and registers it on chain", async () => {
    const created = await owner.request<JobView>("POST", "/v1/jobs", {
      datanets: [{ id: datanetId, version: 1 }],
      training: { maxSteps: 30, evalEvery: 10, checkpointEvery: 10 },
    });
    expect(created.status).toBe("QUEUED");
    const job = await waitForJob(owner, created.id, (j) => j.status === "SUCCEEDED");
    expect(job.status, job.error ?? "").toBe("SUCCEEDED");
    expect(job.metrics!.evalLoss!).toBeLessThan(job.metrics!.baseEvalLoss!);
    expect(job.lossCurve.length).toBeGreaterThan(0);

    await platform.idle();
    const adapter = await owner.request<{ id: string; fingerprint: string; weightsHash: string; chain: { status: string; txHash: string } }>(
      "GET",
      `/v1/adapters/${job.adapterId}`,
    );
    expect(adapter.chain.status).toBe("confirmed");
    const onChain = await new EthersChain(platform.chain.signer, platform.chain.addresses).findAdapter(adapter.fingerprint);
    expect(onChain).toBeDefined();

    // The weights download: the API redirects to a signed local-blobs URL, fetch follows it.
    const download = await fetch(`${platform.url}/v1/adapters/${adapter.id}/files/adapter_model.safetensors`, {
      headers: { authorization: `Bearer ${owner.apiKey}` },
    });
    expect(download.status).toBe(200);
    expect(download.redirected).toBe(true);
    expect(download.url).toContain("/local-blobs/download?");
    expect(download.headers.get("content-disposition")).toBe('attachment; filename="adapter_model.safetensors"');
    const weights = Buffer.from(await download.arrayBuffer());
    expect(`0x${createHash("sha256").update(weights).digest("hex")}`).toBe(adapter.weightsHash);
    // safetensors: u64 little-endian header length, then a JSON header naming the tensors.
    const headerLength = Number(weights.readBigUInt64LE(0));
    const tensors = Object.keys(JSON.parse(weights.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, unknown>);
    expect(tensors.some((name) => name.includes("lora_A"))).toBe(true);
    // Without the API key the route is closed; the signed URL itself needs none.
    expect((await fetch(`${platform.url}/v1/adapters/${adapter.id}/files/adapter_model.safetensors`, { redirect: "manual" })).status).toBe(401);
  }, 300_000);

  it("resumes a trainer killed mid-run from its checkpoint", async () => {
    const created = await owner.request<JobView>("POST", "/v1/jobs", {
      datanets: [{ id: datanetId, version: 1 }],
      training: { maxSteps: 30, checkpointEvery: 5, evalEvery: 0, seed: 7 },
    });
    // Kill the trainer once it is past its first checkpoint.
    await waitForJob(owner, created.id, (j) => (j.progress?.step ?? 0) >= 7);
    const pids = trainerPids();
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(pid, "SIGKILL");

    const job = await waitForJob(owner, created.id, (j) => j.status === "SUCCEEDED");
    expect(job.status, job.error ?? "").toBe("SUCCEEDED");
    expect(job.attempts).toBe(2);
  }, 300_000);
});
