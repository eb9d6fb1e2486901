// The OpenAI routes, driven by the official `openai` client over loopback HTTP (so compatibility
// is what the ecosystem's own client accepts), plus raw requests where the client would not send
// what a hostile or broken client does.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenLoopback, OTHER, OWNER, BASE_ID, testService, type TestService } from "./test-support.ts";
import type { GenerationRecord } from "./hooks.ts";

let svc: TestService;
let stop: () => Promise<void>;
let url: string;
let client: OpenAI;
const records: GenerationRecord[] = [];

beforeAll(async () => {
  svc = await testService({
    adapters: [
      { id: "ad_pub", promptTemplate: "instruction" },
      { id: "ad_chat", promptTemplate: "chat" },
      { id: "ad_priv", visibility: "private", owner: OWNER },
      { id: "ad_other_base", baseModel: "llama-3-8b" },
      { id: "ad_nofiles", noFiles: true },
    ],
    hooks: [(r) => { records.push(r); return { attribution: { adapter: r.ctx.model.id, tokens: r.completionTokenIds.length } }; }],
  });
  ({ url, stop } = await listenLoopback(svc.service.app.fetch));
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: svc.keys.other, maxRetries: 0 });
});
afterAll(async () => {
  await stop();
  await svc.close();
});

const post = (path: string, body: unknown, key: string | null = svc.keys.other) =>
  fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: typeof body === "string" ? body : JSON.stringify(body) });

describe("GET /v1/models", () => {
  it("lists the base model and the servable public adapters with their parent; a private adapter only for its owner", async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    expect(ids).toContain(BASE_ID);
    expect(ids).toEqual(expect.arrayContaining(["ad_pub", "ad_chat", "ad_nofiles"]));
    expect(ids).not.toContain("ad_priv");
    expect(ids).not.toContain("ad_other_base"); // its base is not served here
    const pub = page.data.find((m) => m.id === "ad_pub") as unknown as Record<string, unknown>;
    expect(pub).toMatchObject({ object: "model", owned_by: OWNER, parent: BASE_ID });
    expect(typeof pub.created).toBe("number");
    const owner = new OpenAI({ baseURL: `${url}/v1`, apiKey: svc.keys.owner, maxRetries: 0 });
    expect((await owner.models.list()).data.map((m) => m.id)).toContain("ad_priv");
    // public without a key
    const anon = await fetch(`${url}/v1/models`);
    expect(anon.status).toBe(200);
  });
});

describe("POST /v1/chat/completions", () => {
  it("answers with OpenAI's shape, usage and the hook's extension fields", async () => {
    const r = await client.chat.completions.create({ model: "ad_pub", messages: [{ role: "user", content: "What is the capital of France?" }], max_tokens: 8, temperature: 0 });
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.object).toBe("chat.completion");
    expect(r.model).toBe("ad_pub");
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.message.role).toBe("assistant");
    expect(typeof r.choices[0]!.message.content).toBe("string");
    expect(["stop", "length"]).toContain(r.choices[0]!.finish_reason);
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
    expect((r as unknown as { attribution: unknown }).attribution).toEqual({ adapter: "ad_pub", tokens: r.usage!.completion_tokens });
    // the prompt was rendered with the adapter's (instruction) template
    const rec = records.find((x) => x.ctx.requestId === r.id)!;
    expect(rec.promptText).toBe("### Instruction:\nWhat is the capital of France?\n### Response:\n");
    expect(rec.promptTokenIds.length).toBe(r.usage!.prompt_tokens);
    expect(rec.ctx).toMatchObject({ route: "chat.completions", payer: OTHER, price: "1000" });
  });

  it("streams chunks whose text equals the non-streamed answer, then a usage chunk with empty choices, then [DONE]", async () => {
    const params = { model: "ad_chat", messages: [{ role: "system" as const, content: "Be brief." }, { role: "user" as const, content: "Name a capital." }], max_tokens: 12, temperature: 0 };
    const whole = await client.chat.completions.create(params);
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0]!.id)).toBe(true);
    const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? "")).join("");
    expect(text).toBe(whole.choices[0]!.message.content);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish!.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    expect((last as unknown as { attribution: unknown }).attribution).toBeDefined();
    // without include_usage the extension rides on the finish chunk and no usage is sent
    const raw = await (await post("/v1/chat/completions", { ...params, stream: true })).text();
    const events = raw.split("\n\n").filter(Boolean).map((e) => e.replace(/^data: /, ""));
    expect(events.at(-1)).toBe("[DONE]");
    const fin = JSON.parse(events.at(-2)!);
    expect(fin.choices[0].finish_reason).toBeTruthy();
    expect(fin.attribution).toBeDefined();
    expect(fin.usage).toBeUndefined();
  });

  it("honours stop strings and max_completion_tokens", async () => {
    const r = await client.chat.completions.create({ model: BASE_ID, messages: [{ role: "user", content: "The people" }], max_completion_tokens: 20, temperature: 0 });
    expect(r.usage!.completion_tokens).toBeLessThanOrEqual(20);
    const text = r.choices[0]!.message.content!;
    const cut = text.trim().split(/\s+/)[0]!;
    if (cut) {
      const s = await client.chat.completions.create({ model: BASE_ID, messages: [{ role: "user", content: "The people" }], max_tokens: 20, temperature: 0, stop: [cut] });
      expect(s.choices[0]!.finish_reason).toBe("stop");
      expect(s.choices[0]!.message.content).not.toContain(cut);
    }
  });
});

describe("POST /v1/completions", () => {
  it("completes a prompt, streamed and not, with the same text at temperature 0", async () => {
    const r = await client.completions.create({ model: "ad_pub", prompt: "### Instruction:\nCapital of Italy?\n### Response:\n", max_tokens: 10, temperature: 0, seed: 3 });
    expect(r.id).toMatch(/^cmpl-/);
    expect(r.object).toBe("text_completion");
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    const stream = await client.completions.create({ model: "ad_pub", prompt: "### Instruction:\nCapital of Italy?\n### Response:\n", max_tokens: 10, temperature: 0, stream: true });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.text ?? "";
    expect(text).toBe(r.choices[0]!.text);
  });

  it("is reproducible with a seed at temperature > 0", async () => {
    const ask = () => client.completions.create({ model: BASE_ID, prompt: "We the people", max_tokens: 16, temperature: 0.9, top_p: 0.9, seed: 42 });
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a.choices[0]!.text).toBe(b.choices[0]!.text);
  });
});

describe("bad input, in OpenAI's error shape", () => {
  const errorOf = async (res: Response) => ({ status: res.status, body: (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } } });

  it("unknown model → 404 model_not_found (the client raises NotFoundError)", async () => {
    await expect(client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "hi" }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const { status, body } = await errorOf(await post("/v1/chat/completions", { model: "nope", messages: [{ role: "user", content: "hi" }] }));
    expect(status).toBe(404);
    expect(body.error).toMatchObject({ type: "invalid_request_error", code: "model_not_found", param: "model" });
  });

  it("a private adapter is 404 to everyone but its owner, who can call it", async () => {
    const { status } = await errorOf(await post("/v1/chat/completions", { model: "ad_priv", messages: [{ role: "user", content: "hi" }] }));
    expect(status).toBe(404);
    const ok = await post("/v1/chat/completions", { model: "ad_priv", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }, svc.keys.owner);
    expect(ok.status).toBe(200);
  });

  it("no key or a bad key → 401 (AuthenticationError)", async () => {
    expect((await errorOf(await post("/v1/chat/completions", { model: BASE_ID, messages: [{ role: "user", content: "hi" }] }, null))).body.error.code).toBe("missing_api_key");
    const bad = new OpenAI({ baseURL: `${url}/v1`, apiKey: "mf_wrong", maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: BASE_ID, messages: [{ role: "user", content: "hi" }] })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("an adapter trained on another base model → 400", async () => {
    // listed nowhere, but its record exists: naming it says why it cannot run
    const { status, body } = await errorOf(await post("/v1/chat/completions", { model: "ad_other_base", messages: [{ role: "user", content: "hi" }] }));
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: "model_not_supported", param: "model" });
  });

  it.each([
    ["malformed JSON", "{not json", null],
    ["a JSON array", "[]", null],
    ["missing messages", { model: BASE_ID }, "messages"],
    ["wrong type of messages", { model: BASE_ID, messages: "hi" }, "messages"],
    ["n > 1", { model: BASE_ID, messages: [{ role: "user", content: "hi" }], n: 2 }, "n"],
    ["negative max_tokens", { model: BASE_ID, messages: [{ role: "user", content: "hi" }], max_tokens: -1 }, "max_tokens"],
    ["temperature above 2", { model: BASE_ID, messages: [{ role: "user", content: "hi" }], temperature: 3 }, "temperature"],
    ["an unknown role", { model: BASE_ID, messages: [{ role: "wizard", content: "hi" }] }, "messages[0].role"],
  ])("%s → 400", async (_name, body, param) => {
    const { status, body: err } = await errorOf(await post("/v1/chat/completions", body));
    expect(status).toBe(400);
    expect(err.error.type).toBe("invalid_request_error");
    expect(err.error.param).toBe(param);
    expect(err.error.message.length).toBeGreaterThan(5);
  });

  it("a prompt longer than the context, or max_tokens beyond it → 400 context_length_exceeded", async () => {
    const long = "the people of the union ".repeat(100);
    const a = await errorOf(await post("/v1/completions", { model: BASE_ID, prompt: long }));
    expect(a.status).toBe(400);
    expect(a.body.error.code).toBe("context_length_exceeded");
    const b = await errorOf(await post("/v1/completions", { model: BASE_ID, prompt: "hi", max_tokens: 1000 }));
    expect(b.status).toBe(400);
    expect(b.body.error).toMatchObject({ code: "context_length_exceeded", param: "max_tokens" });
    await expect(client.completions.create({ model: BASE_ID, prompt: long })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it("an adapter without files in the blob store → 503 for it while others keep serving", async () => {
    const { status, body } = await errorOf(await post("/v1/chat/completions", { model: "ad_nofiles", messages: [{ role: "user", content: "hi" }] }));
    expect(status).toBe(503);
    expect(body.error.type).toBe("server_error");
    expect((await post("/v1/chat/completions", { model: "ad_pub", messages: [{ role: "user", content: "hi" }], max_tokens: 2 })).status).toBe(200);
  });

  it("an unknown route answers 404 in OpenAI's shape", async () => {
    const { status, body } = await errorOf(await post("/v1/embeddings", { model: BASE_ID, input: "x" }));
    expect(status).toBe(404);
    expect(body.error.type).toBe("invalid_request_error");
  });
});

describe("health and metrics", () => {
  it("/healthz, /readyz and Prometheus text with per-adapter series", async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${url}/readyz`)).json()).toMatchObject({ status: "ready" });
    const res = await fetch(`${url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/openlora_requests_total\{model="ad_pub",route="chat.completions",status="200"\} [1-9]/);
    expect(text).toMatch(/openlora_requests_total\{model="nope",route="chat.completions",status="404"\}|openlora_requests_total\{model="unknown",route="chat.completions",status="404"\}/);
    expect(text).toMatch(/openlora_completion_tokens_total\{model="ad_pub"\} [1-9]/);
    expect(text).toMatch(/openlora_time_to_first_token_seconds_bucket\{le="[^"]+",model="ad_pub"\}/);
    expect(text).toMatch(/openlora_inter_token_latency_seconds_count\{model="ad_pub"\} [1-9]/);
    expect(text).toMatch(/openlora_batch_rows_count [1-9]/);
    expect(text).toMatch(/openlora_adapter_cache_lookups_total\{tier="blob"\} [1-9]/);
    expect(text).toMatch(/openlora_adapter_load_seconds_count\{tier="blob"\} [1-9]/);
    expect(text).toMatch(/openlora_adapters_resident [1-9]/);
    expect(text).toMatch(/openlora_queue_depth 0/);
  });
});
