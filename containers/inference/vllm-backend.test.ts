// The vLLM gateway against a fake of vLLM's documented HTTP API: adapters staged from the blob
// store and loaded at runtime, LRU unloading under max-loras with pins, streaming passed through.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { apiKeyItem, newApiKey } from "../../core/auth/api-keys.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import { apiKeyAuthorizer } from "./api-key-authorizer.ts";
import { createInferenceApp } from "./app.ts";
import { ModelCatalog } from "./catalog.ts";
import { fakeVllm } from "./fake-vllm.ts";
import { addAdapter, BASE_ID, listenLoopback, OTHER } from "./test-support.ts";
import { VllmBackend } from "./vllm-backend.ts";

let stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.reverse()) await s();
  stops = [];
});

async function setup(opts: { maxLoras: number; adapters: string[]; vllmUp?: boolean; tokenDelayMs?: number; noTokenIds?: boolean }) {
  const vllm = fakeVllm({ model: BASE_ID, maxCpuLoras: opts.maxLoras, ...(opts.tokenDelayMs ? { tokenDelayMs: opts.tokenDelayMs } : {}), ...(opts.noTokenIds ? { noTokenIds: true } : {}) });
  const v = await listenLoopback(vllm.app.fetch);
  stops.push(v.stop);
  const db = new DatabaseSync(":memory:");
  const tables = { main: new SqliteTableStore(db, "main", { stream: false }), contributions: new SqliteTableStore(db, "contributions", { stream: false }) } as unknown as Tables;
  const blobs = new MemoryBlobStore();
  for (const id of opts.adapters) await addAdapter(tables, blobs, { id });
  const key = newApiKey();
  await tables.main.put(apiKeyItem(key, OTHER, Date.now()));
  const adapterDir = mkdtempSync(join(tmpdir(), "vllm-stage-"));
  stops.push(async () => rmSync(adapterDir, { recursive: true, force: true }));
  let catalog: ModelCatalog | undefined;
  const backend = new VllmBackend({ url: opts.vllmUp === false ? "http://127.0.0.1:9" : v.url, baseModelId: BASE_ID, adapterDir, maxLoras: opts.maxLoras, blobs, blobKeys: (id) => catalog!.files(id) });
  catalog = new ModelCatalog({ tables, baseModels: backend.baseModels() });
  const service = createInferenceApp({ backend, catalog, authorizer: apiKeyAuthorizer({ tables }), log: () => {} });
  const s = await listenLoopback(service.app.fetch);
  stops.push(s.stop, async () => db.close());
  return { vllm, blobs, adapterDir, key, url: s.url, client: new OpenAI({ baseURL: `${s.url}/v1`, apiKey: key, maxRetries: 0 }) };
}

describe("VllmBackend", () => {
  it("stages an adapter from the blob store, loads it into vLLM at runtime, and streams vLLM's output", async () => {
    const { vllm, adapterDir, client } = await setup({ maxLoras: 4, adapters: ["ad_a"] });
    const whole = await client.completions.create({ model: "ad_a", prompt: "Hello", max_tokens: 5, temperature: 0 });
    expect(vllm.loaded.get("ad_a")).toBe(join(adapterDir, "ad_a"));
    expect(existsSync(join(adapterDir, "ad_a", "adapter_model.safetensors"))).toBe(true);
    expect(whole.usage).toEqual({ prompt_tokens: 6, completion_tokens: 5, total_tokens: 11 });
    const stream = await client.chat.completions.create({ model: "ad_a", messages: [{ role: "user", content: "Hello" }], max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? "";
      if (c.usage) usage = c.usage;
    }
    expect(text.split(" ").filter(Boolean)).toHaveLength(5);
    expect(usage!.completion_tokens).toBe(5);
    expect(vllm.calls.filter((c) => c === "POST /v1/load_lora_adapter")).toHaveLength(1); // loaded once, reused
  });

  it("unloads the least recently used idle adapter at max-loras and never one in use", async () => {
    const { vllm, client } = await setup({ maxLoras: 2, adapters: ["ad_1", "ad_2", "ad_3"], tokenDelayMs: 30 });
    await client.completions.create({ model: "ad_1", prompt: "x", max_tokens: 1 });
    await client.completions.create({ model: "ad_2", prompt: "x", max_tokens: 1 });
    // ad_2 is busy while ad_3 arrives: ad_1 (idle, oldest) must go, ad_2 must stay
    const busy = client.completions.create({ model: "ad_2", prompt: "x", max_tokens: 8 });
    await new Promise((r) => setTimeout(r, 40));
    await client.completions.create({ model: "ad_3", prompt: "x", max_tokens: 1 });
    expect([...vllm.loaded.keys()].sort()).toEqual(["ad_2", "ad_3"]);
    expect((await busy).choices[0]!.text.length).toBeGreaterThan(0);
    // with both in use, a third waits for a release instead of overfilling vLLM
    const [a, b, c] = await Promise.all([
      client.completions.create({ model: "ad_2", prompt: "x", max_tokens: 4 }),
      client.completions.create({ model: "ad_3", prompt: "x", max_tokens: 4 }),
      client.completions.create({ model: "ad_1", prompt: "x", max_tokens: 4 }),
    ]);
    expect([a, b, c].every((r) => r.choices.length === 1)).toBe(true);
    expect(vllm.loaded.size).toBeLessThanOrEqual(2);
  });

  it("a corrupt adapter is refused with 503 before vLLM sees it", async () => {
    const { vllm, blobs, url, key } = await setup({ maxLoras: 2, adapters: ["ad_bad"] });
    await blobs.put("jobs/job_ad_bad/output/adapter_model.safetensors", "garbage");
    const res = await fetch(`${url}/v1/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ model: "ad_bad", prompt: "x" }) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("adapter_corrupt");
    expect(vllm.calls).not.toContain("POST /v1/load_lora_adapter");
  });

  it("counts completion tokens with vLLM's tokenizer when the server sends no token ids", async () => {
    const { client } = await setup({ maxLoras: 2, adapters: [], noTokenIds: true });
    const r = await client.completions.create({ model: BASE_ID, prompt: "Hi", max_tokens: 3 });
    expect(r.usage!.completion_tokens).toBe(new TextEncoder().encode(r.choices[0]!.text).length);
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it("vLLM down: /readyz is 503 and calls get 503", async () => {
    const { url, client } = await setup({ maxLoras: 2, adapters: ["ad_a"], vllmUp: false });
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    await expect(client.completions.create({ model: BASE_ID, prompt: "x", max_tokens: 2 })).rejects.toBeInstanceOf(OpenAI.InternalServerError);
  });
});
