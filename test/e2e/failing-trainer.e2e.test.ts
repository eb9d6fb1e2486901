import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DevClient } from "../../local/dev-client.ts";
import { startPlatform, type Platform } from "../../local/platform.ts";

/**
 * A trainer that fails every time: the job is retried per policy, then ends
 * FAILED with the reason, and the owner's webhook hears `job.failed`.
 */
describe("a trainer that fails every time", () => {
  let dataDir: string;
  let platform: Platform;
  let receiver: Server;
  const received: { type: string; data: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mf-e2e-failing-"));
    const trainer = join(dataDir, "crashing-trainer.mjs");
    writeFileSync(trainer, 'console.error("CUDA error: out of memory"); process.exit(1);\n');
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push(JSON.parse(body) as { type: string; data: Record<string, unknown> });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT", trainerCommand: [trainer] });
  });

  afterAll(async () => {
    await platform?.stop();
    receiver?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("ends FAILED with the reason after the last attempt, and sends job.failed", async () => {
    const owner = new DevClient(platform.url);
    await owner.signIn(new Wallet(Wallet.createRandom().privateKey));
    await owner.request("POST", "/v1/webhooks", {
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
      events: ["job.failed", "job.succeeded"],
    });
    const datanet = await owner.request<{ id: string }>("POST", "/v1/datanets", { name: "Some text", license: "MIT", schema: "text" });
    const text = Array.from({ length: 20 }, (_, i) => `Line number ${i} of some English text.`).join("\n");
    const uploadId = await owner.upload(datanet.id, "notes.txt", "text/plain", Buffer.from(text));
    await owner.waitForUpload(datanet.id, uploadId);
    await owner.request("POST", `/v1/datanets/${datanet.id}/versions`);

    const job = await owner.request<{ id: string }>("POST", "/v1/jobs", { datanets: [{ id: datanet.id, version: 1 }] });
    const deadline = Date.now() + 120_000;
    let view: { status: string; attempts: number; error: string | null };
    for (;;) {
      view = await owner.request("GET", `/v1/jobs/${job.id}`);
      if (view.status === "FAILED" || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(view).toMatchObject({ status: "FAILED", attempts: 3 });
    expect(view.error).toMatch(/out of memory/);
    expect(view.error).toMatch(/3 attempts/);

    await platform.idle();
    const failed = received.filter((e) => e.type === "job.failed");
    expect(failed).toHaveLength(1);
    expect(JSON.stringify(failed[0]!.data)).toContain(job.id);
    expect(received.some((e) => e.type === "job.succeeded")).toBe(false);
  }, 180_000);
});
