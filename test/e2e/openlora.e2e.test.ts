// OpenLoRA on the local platform: the inference service runs as a child process, its OpenAI
// routes answer on the platform's own origin through the proxy (streams unbuffered), /metrics
// too; a killed service is restarted and the call it was serving gets a clear error, not a hang.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiKeyItem, newApiKey } from "../../core/auth/api-keys.ts";
import { addAdapter, OWNER } from "../../containers/inference/test-support.ts";
import { startPlatform, type Platform } from "../../local/platform.ts";

let dataDir: string;
let platform: Platform;
let client: OpenAI;
let key: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "openlora-e2e-"));
  platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT" });
  key = newApiKey();
  await platform.deps.tables.main.put(apiKeyItem(key, OWNER, Date.now()));
  await addAdapter(platform.deps.tables, platform.deps.blobs, { id: "ad_e2e", promptTemplate: "instruction" });
  await platform.inference!.ready();
  client = new OpenAI({ baseURL: `${platform.url}/v1`, apiKey: key, maxRetries: 0 });
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("OpenLoRA through the local platform", () => {
  it("lists and serves the adapter on the platform's origin, streamed and not, and exposes /metrics", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(["mf-tiny-sotu", "ad_e2e"]));
    const r = await client.chat.completions.create({ model: "ad_e2e", messages: [{ role: "user", content: "What is the capital of Peru?" }], max_tokens: 8, temperature: 0 });
    expect(r.choices[0]!.message.content).toBeTypeOf("string");
    const stream = await client.chat.completions.create({ model: "ad_e2e", messages: [{ role: "user", content: "What is the capital of Peru?" }], max_tokens: 8, temperature: 0, stream: true });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    expect(text).toBe(r.choices[0]!.message.content);
    const metrics = await (await fetch(`${platform.url}/metrics`)).text();
    expect(metrics).toMatch(/openlora_requests_total\{model="ad_e2e",route="chat.completions",status="200"\} 2/);
    // errors keep OpenAI's shape through the proxy
    await expect(client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("passes a stream through unbuffered: the first chunk arrives well before the last", async () => {
    const t0 = performance.now();
    const res = await fetch(`${platform.url}/v1/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ model: "mf-tiny-sotu", prompt: "We", max_tokens: 100, temperature: 0, stream: true, stop: "\u0000never" }) });
    const reader = res.body!.getReader();
    const arrivals: number[] = [];
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
      arrivals.push(performance.now() - t0);
    }
    expect(arrivals.length).toBeGreaterThan(10);
    expect(arrivals[0]!).toBeLessThan(arrivals.at(-1)! / 2);
  });

  it("a killed inference process: the call in flight gets an error, the platform restarts it, calls work again", async () => {
    const sup = platform.inference!;
    const stream = await client.completions.create({ model: "mf-tiny-sotu", prompt: "We", max_tokens: 120, temperature: 0, stream: true, stop: "\u0000never" });
    const restartsBefore = sup.restarts;
    let chunks = 0;
    const consumed = (async () => {
      for await (const _ of stream) if (++chunks === 2) process.kill(sup.pid!, "SIGKILL");
    })();
    await expect(consumed).rejects.toThrow(/inference service stopped/);
    // while it restarts, calls get a 503 at once; then it is back
    await expect.poll(() => sup.restarts, { timeout: 5000 }).toBe(restartsBefore + 1);
    if (!sup.url) {
      const down = await fetch(`${platform.url}/v1/models`);
      expect(down.status).toBe(503);
    }
    await sup.ready(30_000);
    const r = await client.completions.create({ model: "ad_e2e", prompt: "Hello", max_tokens: 3 });
    expect(r.choices).toHaveLength(1);
  }, 60_000);
});
