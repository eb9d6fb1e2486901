// A small fake of vLLM's OpenAI-compatible server, following its documented HTTP API closely
// enough to test the gateway (tests only): /health, /tokenize, /v1/completions (streamed with
// token ids, usage chunk, [DONE]), and runtime LoRA updating with /v1/load_lora_adapter and
// /v1/unload_lora_adapter, which refuse what vLLM refuses (a name loaded twice, an unknown name,
// a path without adapter_config.json, more adapters than --max-cpu-loras).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";

export interface FakeVllm {
  app: Hono;
  loaded: Map<string, string>;
  calls: string[];
  /** Completions in flight (a client that leaves must end its request). */
  inFlight(): number;
}

const WORDS = ["the", "union", "people", "nation", "peace", "work", "future", "law"];

export function fakeVllm(opts: { model: string; maxCpuLoras: number; maxModelLen?: number; tokenDelayMs?: number; /** an older vLLM that ignores return_token_ids */ noTokenIds?: boolean }): FakeVllm {
  const app = new Hono();
  const loaded = new Map<string, string>();
  const calls: string[] = [];
  let inFlight = 0;
  const err = (message: string, type: string, code: number) => ({ object: "error", message, type, param: null, code });

  app.use("*", async (c, next) => {
    calls.push(`${c.req.method} ${c.req.path}`);
    await next();
  });
  app.get("/health", (c) => c.body(null, 200));
  app.post("/tokenize", async (c) => {
    const { prompt, add_special_tokens } = (await c.req.json()) as { prompt: string; add_special_tokens?: boolean };
    // byte-level ids after a BOS of 1, as a stand-in tokenizer
    const tokens = [...(add_special_tokens === false ? [] : [1]), ...Array.from(new TextEncoder().encode(prompt), (b) => b + 2)];
    return c.json({ count: tokens.length, max_model_len: opts.maxModelLen ?? 512, tokens });
  });
  app.post("/v1/load_lora_adapter", async (c) => {
    const { lora_name, lora_path } = (await c.req.json()) as { lora_name: string; lora_path: string };
    if (loaded.has(lora_name)) return c.json(err(`The lora adapter '${lora_name}' has already been loaded.`, "InvalidUserInput", 400), 400);
    if (loaded.size >= opts.maxCpuLoras) return c.json(err(`No free LoRA slots (max_cpu_loras=${opts.maxCpuLoras})`, "InvalidUserInput", 400), 400);
    try {
      JSON.parse(await readFile(join(lora_path, "adapter_config.json"), "utf8"));
      await readFile(join(lora_path, "adapter_model.safetensors"));
    } catch {
      return c.json(err(`Loading lora ${lora_name} failed: No adapter found for ${lora_path}`, "NotFoundError", 404), 404);
    }
    loaded.set(lora_name, lora_path);
    return c.text(`Success: LoRA adapter '${lora_name}' added successfully.`);
  });
  app.post("/v1/unload_lora_adapter", async (c) => {
    const { lora_name } = (await c.req.json()) as { lora_name: string };
    if (!loaded.delete(lora_name)) return c.json(err(`The lora adapter '${lora_name}' cannot be found.`, "NotFoundError", 404), 404);
    return c.text(`Success: LoRA adapter '${lora_name}' removed successfully.`);
  });
  app.post("/v1/completions", async (c) => {
    const body = (await c.req.json()) as { model: string; prompt: number[]; max_tokens: number; seed?: number; stop?: string[]; stream?: boolean; return_token_ids?: boolean };
    if (body.model !== opts.model && !loaded.has(body.model)) return c.json(err(`The model \`${body.model}\` does not exist.`, "NotFoundError", 404), 404);
    // deterministic output that depends on the model (adapter) and the seed
    let h = (body.seed ?? 0) + 7;
    for (const ch of body.model) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    const pieces: Array<{ id: number; text: string }> = [];
    let text = "";
    let finish: "stop" | "length" = "length";
    for (let i = 0; i < body.max_tokens; i++) {
      const id = (h + i * 13) % WORDS.length;
      const piece = `${WORDS[id]} `;
      const next = text + piece;
      const stopAt = (body.stop ?? []).map((s) => next.indexOf(s)).filter((x) => x >= 0);
      if (stopAt.length) { finish = "stop"; text = next.slice(0, Math.min(...stopAt)); break; }
      pieces.push({ id: 1000 + id, text: piece });
      text = next;
    }
    const id = `cmpl-fake${Math.random().toString(36).slice(2)}`;
    const usage = { prompt_tokens: body.prompt.length, completion_tokens: pieces.length, total_tokens: body.prompt.length + pieces.length };
    if (!body.stream) return c.json({ id, object: "text_completion", model: body.model, choices: [{ index: 0, text, finish_reason: finish, token_ids: pieces.map((p) => p.id) }], usage });
    inFlight++;
    return streamSSE(c, async (s) => {
      let gone = false;
      s.onAbort(() => { gone = true; });
      try {
        for (const [i, p] of pieces.entries()) {
          if (gone) return;
          if (opts.tokenDelayMs) await new Promise((r) => setTimeout(r, opts.tokenDelayMs));
          const last = i === pieces.length - 1;
          await s.writeSSE({ data: JSON.stringify({ id, object: "text_completion", model: body.model, choices: [{ index: 0, text: p.text, finish_reason: last ? finish : null, ...(body.return_token_ids && !opts.noTokenIds ? { token_ids: [p.id] } : {}) }] }) });
        }
        await s.writeSSE({ data: JSON.stringify({ id, object: "text_completion", model: body.model, choices: [], usage }) });
        await s.writeSSE({ data: "[DONE]" });
      } finally {
        inFlight--;
      }
    });
  });
  return { app, loaded, calls, inFlight: () => inFlight };
}
