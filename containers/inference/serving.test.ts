// Serving behaviour under load and faults: batching does not change outputs, a flood gets 429s
// and loses nothing, a client that leaves frees its sequence, the blob store failing only hurts
// cold adapters, corrupt adapter files are a 503 for that adapter alone.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { adapterItem } from "../../core/adapters/index.ts";
import { createLora, serializeAdapter } from "../engine/index.ts";
import { adapterRecord, BASE_ID, listenLoopback, testService, tinyBase, type TestService } from "./test-support.ts";

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function serve(svc: TestService) {
  const l = await listenLoopback(svc.service.app.fetch);
  cleanup.push(l.stop, svc.close);
  return { url: l.url, client: new OpenAI({ baseURL: `${l.url}/v1`, apiKey: svc.keys.other, maxRetries: 0 }) };
}

const chat = (model: string, content: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user" as const, content }], max_tokens: 8, temperature: 0, ...extra });

describe("mixed-adapter continuous batching", () => {
  it("gives the same tokens alone and inside a batch of 32 requests over 8 adapters and the base", async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `ad_${i}`);
    const svc = await testService({ adapters: ids.map((id) => ({ id })) });
    const { client } = await serve(svc);
    const jobs = Array.from({ length: 32 }, (_, i) => ({ model: i % 9 === 8 ? BASE_ID : ids[i % 8]!, content: `Question ${i % 5}: capital of ${["France", "Peru", "Japan", "Kenya", "Chile"][i % 5]}?`, seed: i, temperature: i % 2 ? 0.8 : 0 }));
    // alone, one after the other
    const alone: string[] = [];
    for (const j of jobs) alone.push((await client.chat.completions.create(chat(j.model, j.content, { seed: j.seed, temperature: j.temperature }))).choices[0]!.message.content!);
    const stepsBefore = svc.backend.scheduler.steps, rowsBefore = svc.backend.scheduler.rowsRun;
    const together = await Promise.all(jobs.map((j) => client.chat.completions.create(chat(j.model, j.content, { seed: j.seed, temperature: j.temperature }))));
    expect(together.map((r) => r.choices[0]!.message.content)).toEqual(alone);
    // they really shared forward passes: far more rows than steps
    const steps = svc.backend.scheduler.steps - stepsBefore, rows = svc.backend.scheduler.rowsRun - rowsBefore;
    expect(rows / steps).toBeGreaterThan(4);
  });
});

describe("chunked prefill", () => {
  it("a long prompt joining does not stall a running stream: it still gets a token every step", async () => {
    const svc = await testService({ scheduler: { prefillChunk: 16 } });
    const b = svc.backend, sched = b.scheduler;
    const signal = new AbortController().signal;
    const base = { model: { id: BASE_ID, kind: "base" as const, baseModel: BASE_ID, owner: null, visibility: "public" as const, promptTemplate: "text" as const, pricePerCall: "0", created: 0 }, temperature: 0, topP: 1, seed: 0, stop: ["\u0000"], signal, onText: () => {} };
    const stepsOfA: number[] = [];
    const a = b.generate({ ...base, promptTokenIds: await b.tokenize(BASE_ID, "We"), maxTokens: 110, onToken: () => stepsOfA.push(sched.steps) });
    await expect.poll(() => stepsOfA.length, { interval: 1 }).toBeGreaterThan(0);
    const long = await b.tokenize(BASE_ID, "the state of the union is strong and the people ".repeat(6));
    expect(long.length).toBeGreaterThan(64); // several prefill chunks
    const submittedAt = sched.steps;
    let firstOfC = -1;
    const prompt = long.slice(0, 100);
    const c = b.generate({ ...base, promptTokenIds: prompt, maxTokens: 2, onToken: () => { if (firstOfC < 0) firstOfC = sched.steps; } });
    await Promise.all([a, c]);
    // C's prefill took its 16-token chunks, one per step ...
    expect(firstOfC - submittedAt).toBeGreaterThanOrEqual(Math.ceil(prompt.length / 16));
    // ... and in every one of those steps A still got its token
    expect(stepsOfA.at(-1)!).toBeGreaterThanOrEqual(firstOfC);
    expect(stepsOfA.filter((s) => s > submittedAt && s <= firstOfC)).toHaveLength(firstOfC - submittedAt);
    await svc.close();
  });
});

describe("admission", () => {
  it("a flood above the queue bound gets 429s with Retry-After; every other request is answered once", async () => {
    const svc = await testService({ adapters: [{ id: "ad_a" }], admission: { maxRunning: 4, maxQueued: 8, perPrincipal: 1000, perModel: 1000, retryAfterSeconds: 2 } });
    const { url } = await serve(svc);
    const answered = new Set<string>();
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify(chat("ad_a", `flood ${i}`, { max_tokens: 6 })) });
        const body = (await res.json()) as { id?: string; error?: { code: string } };
        if (res.status === 200) {
          expect(answered.has(body.id!)).toBe(false);
          answered.add(body.id!);
        }
        return { status: res.status, retryAfter: res.headers.get("retry-after"), code: body.error?.code };
      }),
    );
    const limited = results.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.every((r) => r.retryAfter === "2" && r.code === "rate_limit_exceeded")).toBe(true);
    expect(results.filter((r) => r.status === 200).length).toBe(40 - limited.length);
    expect(answered.size).toBe(40 - limited.length);
    expect(svc.service.admission.running + svc.service.admission.queued).toBe(0);
  });

  it("caps concurrent calls per key, so one tenant cannot take every slot", async () => {
    const svc = await testService({ admission: { maxRunning: 8, maxQueued: 64, perPrincipal: 3, perModel: 1000 } });
    const { url } = await serve(svc);
    const call = (key: string) => fetch(`${url}/v1/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ model: BASE_ID, prompt: "We the people", max_tokens: 20, temperature: 0 }) }).then((r) => r.status);
    const greedy = Array.from({ length: 10 }, () => call(svc.keys.other));
    const polite = call(svc.keys.owner);
    const statuses = await Promise.all(greedy);
    expect(statuses.filter((s) => s === 200).length).toBe(3);
    expect(statuses.filter((s) => s === 429).length).toBe(7);
    expect(await polite).toBe(200);
  });

  it("caps concurrent calls per adapter, so one hot adapter cannot take every slot", async () => {
    const svc = await testService({ adapters: [{ id: "ad_hot" }, { id: "ad_cool" }], admission: { maxRunning: 16, maxQueued: 64, perPrincipal: 1000, perModel: 2 } });
    const { url } = await serve(svc);
    const call = (model: string) => fetch(`${url}/v1/completions`, { method: "POST", headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify({ model, prompt: "We the people", max_tokens: 20, temperature: 0 }) }).then((r) => r.status);
    const hot = await Promise.all(Array.from({ length: 6 }, () => call("ad_hot")));
    expect(hot.filter((s) => s === 200).length).toBe(2);
    expect(hot.filter((s) => s === 429).length).toBe(4);
    expect(await call("ad_cool")).toBe(200);
  });

  it("a request that outlives the timeout is stopped with 408 and frees its slot", async () => {
    // 120 greedy tokens take well over 5 ms (about 20 ms even at 6,000 tok/s); 30 ms was within reach of the faster engine.
    const svc = await testService({ requestTimeoutMs: 5, admission: { maxRunning: 1, maxQueued: 4 } });
    const { url } = await serve(svc);
    const slow = (max: number) => fetch(`${url}/v1/completions`, { method: "POST", headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify({ model: BASE_ID, prompt: "We", max_tokens: max, temperature: 0, stop: "\u0000never" }) });
    const res = await slow(120);
    expect(res.status).toBe(408);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("request_timeout");
    expect(svc.service.admission.running).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(svc.backend.scheduler.running).toBe(0);
  });
});

describe("a client that disconnects mid-stream", () => {
  it("frees its sequence at the next engine step (per-sequence cancel), and the hook sees a cancelled generation", async () => {
    const cancelled: string[] = [];
    const svc = await testService({ hooks: [(r) => void (r.finishReason === "cancelled" && cancelled.push(r.ctx.requestId))] });
    const { url } = await serve(svc);
    const ac = new AbortController();
    const res = await fetch(`${url}/v1/completions`, { method: "POST", signal: ac.signal, headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify({ model: BASE_ID, prompt: "We the people", max_tokens: 120, temperature: 0, stream: true, stop: "\u0000never" }) });
    const reader = res.body!.getReader();
    await reader.read(); // first chunk arrived: it is generating
    expect(svc.backend.scheduler.running).toBe(1);
    const stepsAtAbort = svc.backend.scheduler.steps;
    ac.abort();
    await expect.poll(() => svc.backend.scheduler.running, { timeout: 2000, interval: 5 }).toBe(0);
    expect(svc.backend.scheduler.steps - stepsAtAbort).toBeLessThan(10); // well before max_tokens
    await expect.poll(() => cancelled.length, { timeout: 2000 }).toBe(1);
    expect(svc.service.admission.running).toBe(0);
  });
});

describe("a call waiting in the admission queue", () => {
  it("starts its adapter's load while it waits, and the call then uses that one load", async () => {
    const svc = await testService({ adapters: [{ id: "ad_slow" }, { id: "ad_queued" }], admission: { maxRunning: 1 } });
    // ad_slow's files arrive only when the gate opens: its call holds the one running slot until then
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const queuedAtFetch: number[] = [];
    const get = svc.blobs.get.bind(svc.blobs);
    svc.blobs.get = async (key) => {
      if (key.includes("ad_slow")) await gate;
      else queuedAtFetch.push(svc.service.admission.queued); // what the queue held when ad_queued was fetched
      return get(key);
    };
    const { client } = await serve(svc);
    const slow = client.chat.completions.create(chat("ad_slow", "hi"));
    await expect.poll(() => svc.service.admission.running, { timeout: 10_000, interval: 5 }).toBe(1);
    const queued = client.chat.completions.create(chat("ad_queued", "hi"));
    await expect.poll(() => svc.backend.cache.metrics.blobLoads, { timeout: 10_000, interval: 5 }).toBe(1); // ad_queued, loaded while queued
    expect(queuedAtFetch[0]).toBe(1);
    expect(svc.service.admission.queued).toBe(1);
    open();
    expect((await slow).choices).toHaveLength(1);
    expect((await queued).choices).toHaveLength(1);
    expect(svc.backend.cache.metrics.blobLoads).toBe(2); // one load each: the queued call's acquire was a hit
  });
});

describe("adapter faults", () => {
  it("the blob store down: cold adapters fail fast with 503, warm ones keep serving", async () => {
    const svc = await testService({ adapters: [{ id: "ad_warm" }, { id: "ad_cold" }] });
    const { client, url } = await serve(svc);
    await client.chat.completions.create(chat("ad_warm", "hi")); // now resident
    svc.blobs.get = async () => { throw new Error("connect ECONNREFUSED 10.0.0.1:443"); };
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify(chat("ad_cold", "hi")) });
    expect(res.status).toBe(503);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("adapter_unavailable");
    await expect(client.chat.completions.create(chat("ad_cold", "hi"))).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    expect((await client.chat.completions.create(chat("ad_warm", "hi"))).choices[0]!.message.content).toBeTypeOf("string");
  });

  it("a cold load that never finishes (a blob store that hangs) ends its call at the request timeout, streamed or not, and frees its slot", async () => {
    const svc = await testService({ adapters: [{ id: "ad_hang" }], requestTimeoutMs: 150 });
    svc.blobs.get = () => new Promise(() => {});
    const { url } = await serve(svc);
    for (const stream of [false, true]) {
      const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", signal: AbortSignal.timeout(5000), headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify(chat("ad_hang", "hi", { stream })) });
      expect(res.status).toBe(408);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("request_timeout");
    }
    expect(svc.service.admission.running).toBe(0);
  });

  it("a blob store that accepts a fetch and never answers is a 503 for that adapter at the fetch deadline, long before the request timeout; the next call tries again", async () => {
    const svc = await testService({ adapters: [{ id: "ad_slow" }], requestTimeoutMs: 10_000, fetchTimeoutMs: 100 });
    const get = svc.blobs.get.bind(svc.blobs);
    svc.blobs.get = () => new Promise(() => {});
    const { client, url } = await serve(svc);
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", signal: AbortSignal.timeout(5000), headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify(chat("ad_slow", "hi")) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("adapter_unavailable");
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(svc.service.admission.running).toBe(0);
    svc.blobs.get = get; // the store answers again
    expect((await client.chat.completions.create(chat("ad_slow", "hi"))).choices).toHaveLength(1);
  });

  it("a local copy that does not parse is replaced by the blob store's good copy: the call is answered, not a 503", async () => {
    const svc = await testService({ adapters: [{ id: "ad_torn" }] });
    const dir = join(svc.backend.cache.opts.diskDir, "ad_torn");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "adapter_model.safetensors"), new Uint8Array(40)); // a torn write on the local disk
    writeFileSync(join(dir, "adapter_config.json"), "{}");
    const { client } = await serve(svc);
    expect((await client.chat.completions.create(chat("ad_torn", "hi"))).choices).toHaveLength(1);
    expect(svc.backend.cache.metrics.blobLoads).toBe(1);
  });

  it("a streamed call for an adapter that cannot load gets the 503 status, not a 200 stream", async () => {
    const svc = await testService({ adapters: [{ id: "ad_gone", noFiles: true }] });
    const { client } = await serve(svc);
    await expect(client.chat.completions.create({ ...chat("ad_gone", "hi"), stream: true })).rejects.toMatchObject({ status: 503 });
  });

  it("an adapter of a rank above the service's max rank is a 400 for that adapter, not a 500; the others keep serving", async () => {
    const svc = await testService({ adapters: [{ id: "ad_ok" }], scheduler: { maxRank: 8 } });
    const rec = adapterRecord({ id: "ad_r16" });
    await svc.tables.main.put(adapterItem(rec));
    const { config, weights } = serializeAdapter(createLora(tinyBase().model.config, { r: 16, alpha: 16, dropout: 0, targets: ["q_proj"] }, { id: "ad_r16", seed: 1, randomB: true, baseModel: BASE_ID }));
    await svc.blobs.put(rec.files.config, config);
    await svc.blobs.put(rec.files.weights, weights);
    const { client } = await serve(svc);
    for (const stream of [false, true]) await expect(client.chat.completions.create({ ...chat("ad_r16", "hi"), stream })).rejects.toMatchObject({ status: 400, code: "adapter_rank_too_large", param: "model" });
    expect(svc.backend.cache.residentCount).toBe(1); // it stays resident: a hit next time, with the same answer
    expect((await client.chat.completions.create(chat("ad_ok", "hi"))).choices).toHaveLength(1);
  });

  it("a corrupt adapter file is a 503 for that adapter; the others keep serving", async () => {
    const svc = await testService({ adapters: [{ id: "ad_ok" }, { id: "ad_bad" }] });
    await svc.blobs.put("jobs/job_ad_bad/output/adapter_model.safetensors", new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const { client, url } = await serve(svc);
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify(chat("ad_bad", "hi")) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("adapter_corrupt");
    expect((await client.chat.completions.create(chat("ad_ok", "hi"))).choices).toHaveLength(1);
  });
});
