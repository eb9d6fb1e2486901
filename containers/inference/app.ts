// createInferenceApp: the OpenLoRA service's one HTTP app (OpenAI routes, /metrics, /healthz,
// /readyz). A call's life: parse → identify the caller → resolve the model for them → authorize
// (price known) → admission (bounded queue, caps) → generate on the backend → hooks → respond.
import { randomBytes, randomInt } from "node:crypto";
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import { Admission, type AdmissionOptions } from "./admission.ts";
import type { GenerationBackend, GenerationResult } from "./backend.ts";
import type { ModelCatalog } from "./catalog.ts";
import { contextLengthExceeded, InferenceError, invalidRequest, modelNotFound, openaiError, timedOut } from "./errors.ts";
import { runGenerationHooks, withExtensions, type Authorizer, type GenerationHook, type GenerationRecord, type RequestContext, type ServedModel } from "./hooks.ts";
import { InferenceMetrics } from "./metrics.ts";
import { renderChat } from "./prompt.ts";
import { ChatCompletionRequest, CompletionRequest, parseBody } from "./schemas.ts";

export interface InferenceAppOptions {
  backend: GenerationBackend;
  catalog: ModelCatalog;
  authorizer: Authorizer;
  /** Run after every generation (metering, attribution); see hooks.ts. */
  hooks?: GenerationHook[];
  admission?: Partial<AdmissionOptions>;
  /** A call still running after this is stopped with a 408 (default 120 s). */
  requestTimeoutMs?: number;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  metrics?: InferenceMetrics;
  /** Structured log lines (errors of hooks, backend failures). */
  log?: (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
}

export interface InferenceApp {
  app: Hono;
  admission: Admission;
  metrics: InferenceMetrics;
}

type Route = RequestContext["route"];

/** Builds the inference service's HTTP app (served by main.ts, tested with app.request()). */
export function createInferenceApp(opts: InferenceAppOptions): InferenceApp {
  const { backend, catalog, authorizer } = opts;
  const hooks = opts.hooks ?? [];
  const admission = new Admission(opts.admission);
  const metrics = opts.metrics ?? new InferenceMetrics();
  metrics.observe(admission, backend);
  const timeoutMs = opts.requestTimeoutMs ?? 120_000;
  const maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;
  const log = opts.log ?? ((level, message, fields) => console[level](JSON.stringify({ level, message, ...fields })));
  // read per call: a remote backend learns its context length from the model server
  const bases = { get: (id: string) => backend.baseModels().find((b) => b.id === id), has: (id: string) => backend.baseModels().some((b) => b.id === id), keys: () => backend.baseModels().map((b) => b.id) };
  const app = new Hono();

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const r = await backend.ready();
    return r.ready ? c.json({ status: "ready", backend: backend.name }) : c.json({ status: "not-ready", reason: r.reason }, 503);
  });
  app.get("/metrics", async () => new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } }));

  app.get("/v1/models", async (c) => {
    const caller = await authorizer.identify(c.req.raw.headers);
    const models = await catalog.list(caller);
    return c.json({ object: "list", data: models.map(modelObject) });
  });
  app.get("/v1/models/:id{.+}", async (c) => {
    const caller = await authorizer.identify(c.req.raw.headers);
    const model = await catalog.resolve(c.req.param("id"), caller);
    if (!model || !bases.has(model.baseModel)) throw modelNotFound(c.req.param("id"));
    return c.json(modelObject(await catalog.priced(model)));
  });

  app.post("/v1/chat/completions", (c) => complete(c, "chat.completions"));
  app.post("/v1/completions", (c) => complete(c, "completions"));

  app.notFound((c) => c.json(openaiError(`Unknown request URL: ${c.req.method} ${c.req.path}.`, "invalid_request_error", "unknown_url"), 404));
  app.onError((err, c) => {
    if (err instanceof InferenceError) return c.json(openaiError(err.message, err.type, err.code, err.param), err.status as 400, err.headers);
    log("error", "unhandled error", { error: String((err as Error).stack ?? err) });
    return c.json(openaiError("The server had an error while processing your request.", "server_error", "internal_error"), 500);
  });

  async function complete(c: Context, route: Route): Promise<Response> {
    const receivedAt = Date.now();
    let modelLabel = "unknown";
    try {
      const body = await readJson(c.req.raw, maxBodyBytes);
      const chat = route === "chat.completions";
      const req = chat ? parseBody(ChatCompletionRequest, body) : parseBody(CompletionRequest, body);
      const caller = await authorizer.identify(c.req.raw.headers);
      const model = await catalog.resolve(req.model, caller);
      if (!model) throw modelNotFound(req.model);
      modelLabel = metrics.label(model.id);
      if (!bases.has(model.baseModel)) throw invalidRequest(`The adapter \`${model.id}\` was trained on \`${model.baseModel}\`, which this service does not serve (it serves ${[...bases.keys()].map((b) => `\`${b}\``).join(", ")}).`, "model", "model_not_supported");

      const requestId = `${chat ? "chatcmpl" : "cmpl"}-${randomBytes(12).toString("base64url")}`;

      // the prompt as the model sees it: the adapter's training template for chat
      const rendered = "messages" in req ? renderChat(model.promptTemplate, req.messages) : { prompt: req.prompt, stop: [] };
      const promptTokenIds = await backend.tokenize(model.baseModel, rendered.prompt);
      const base = bases.get(model.baseModel)!;
      const requested = ("max_completion_tokens" in req ? req.max_completion_tokens : undefined) ?? req.max_tokens ?? undefined;
      const room = base.contextLength - promptTokenIds.length;
      const param = chat ? "messages" : "prompt";
      if (room < 1) throw contextLengthExceeded(`This model's maximum context length is ${base.contextLength} tokens. However, your prompt is ${promptTokenIds.length} tokens, which leaves no room for a completion.`, param);
      if (requested !== undefined && requested > room) {
        throw contextLengthExceeded(
          `This model's maximum context length is ${base.contextLength} tokens. However, you requested ${promptTokenIds.length + requested} tokens (${promptTokenIds.length} in the prompt, ${requested} in the completion). Please reduce the prompt or the completion length.`,
          "max_tokens",
        );
      }
      const temperature = req.temperature ?? 1;
      const gen = {
        maxTokens: requested ?? room,
        temperature,
        topP: req.top_p ?? 1,
        // without a seed a sampled call is not reproducible, as with OpenAI
        seed: req.seed ?? randomInt(2 ** 31),
        stop: [...new Set([...req.stop, ...rendered.stop])],
      };
      // Authorised once the most it can generate is known: a payment quote is priced on max_tokens.
      const partial = { requestId, route, receivedAt, caller, model, user: req.user ?? null, headers: c.req.raw.headers, maxTokens: gen.maxTokens, stream: req.stream === true };
      const auth = await authorizer.authorize(partial);
      if (!auth.allow) {
        metrics.requests.inc({ model: modelLabel, route, status: String(auth.status) });
        return c.json(auth.body as object, auth.status, auth.headers ?? {});
      }
      const ctx: RequestContext = { ...partial, payer: auth.payer, principal: auth.principal, price: auth.price ?? model.pricePerCall, grant: auth.grant };

      // one signal for everything that ends a call early: the client leaving, or the timeout
      const abort = new AbortController();
      const onClientGone = () => abort.abort(new InferenceError(499, "cancelled", "client_closed", "The client closed the connection."));
      c.req.raw.signal.addEventListener("abort", onClientGone, { once: true });
      const timer = setTimeout(() => abort.abort(timedOut(timeoutMs / 1000)), timeoutMs);
      timer.unref();
      const cleanup = () => { clearTimeout(timer); c.req.raw.signal.removeEventListener("abort", onClientGone); };

      let release: () => void;
      try {
        // a call that must wait starts its adapter's cold load now, so the load overlaps the wait
        release = await admission.enter(ctx.principal, model.id, abort.signal, () => backend.prefetch?.(model));
      } catch (e) {
        cleanup();
        throw e;
      }
      const created = Math.floor(receivedAt / 1000);
      const run = (onText: (delta: string) => void) => generate(ctx, rendered.prompt, promptTokenIds, gen, abort.signal, onText);
      const finish = () => { release(); cleanup(); };

      if (!req.stream) {
        try {
          const { result, extensions } = await run(() => {});
          if (result.finishReason === "cancelled") throw abort.signal.reason instanceof InferenceError ? abort.signal.reason : timedOut(timeoutMs / 1000);
          metrics.requests.inc({ model: modelLabel, route, status: "200" });
          const usage = usageOf(promptTokenIds.length, result.completionTokenIds.length);
          const choice = chat
            ? { index: 0, message: { role: "assistant", content: result.text, refusal: null }, logprobs: null, finish_reason: result.finishReason }
            : { text: result.text, index: 0, logprobs: null, finish_reason: result.finishReason };
          const body = { id: requestId, object: chat ? "chat.completion" : "text_completion", created, model: model.id, choices: [choice], usage };
          return c.json(withExtensions(body, extensions), 200, { ...(auth.headers ?? {}), ...(ctx.responseHeaders ?? {}) });
        } finally {
          finish();
        }
      }

      // streaming: headers go now; every text delta is its own chunk, written as it is final
      for (const [k, v] of Object.entries(auth.headers ?? {})) c.header(k, v);
      const includeUsage = req.stream_options?.include_usage === true;
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        JSON.stringify({ id: requestId, object: chat ? "chat.completion.chunk" : "text_completion", created, model: model.id, choices, ...(includeUsage ? { usage: null } : {}), ...extra });
      const textChoice = (text: string, finishReason: string | null) =>
        chat ? { index: 0, delta: text === "" && finishReason ? {} : { content: text }, logprobs: null, finish_reason: finishReason } : { text, index: 0, logprobs: null, finish_reason: finishReason };
      // The status line waits for the first text: an adapter that cannot be loaded (503) or a
      // refused prompt still gets its HTTP status, not a 200 stream with an error in it.
      const early: string[] = [];
      let sink: ((delta: string) => void) | null = null;
      let firstText!: () => void;
      const started = new Promise<void>((r) => (firstText = r));
      const generation = run((delta) => {
        if (sink) sink(delta);
        else {
          early.push(delta);
          firstText();
        }
      });
      try {
        await Promise.race([started, generation]);
      } catch (e) {
        finish();
        throw e;
      }
      return streamSSE(c, async (stream) => {
        stream.onAbort(onClientGone);
        try {
          let writes = Promise.resolve();
          const write = (data: string) => { writes = writes.then(() => stream.writeSSE({ data })).catch(() => {}); };
          if (chat) write(chunk([{ index: 0, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null }]));
          for (const delta of early) write(chunk([textChoice(delta, null)]));
          sink = (delta) => write(chunk([textChoice(delta, null)]));
          const { result, extensions } = await generation;
          await writes;
          if (result.finishReason === "cancelled") {
            // the client is gone (nothing to send) or the call timed out (say so in the stream)
            const reason = abort.signal.reason;
            if (reason instanceof InferenceError && reason.status !== 499) await stream.writeSSE({ data: JSON.stringify(openaiError(reason.message, reason.type, reason.code)) });
            metrics.requests.inc({ model: modelLabel, route, status: reason instanceof InferenceError ? String(reason.status) : "499" });
            return;
          }
          const usage = usageOf(promptTokenIds.length, result.completionTokenIds.length);
          const last = includeUsage ? null : extensions;
          await stream.writeSSE({ data: chunk([textChoice("", result.finishReason)], last ? extensionsOnly(last) : {}) });
          if (includeUsage) await stream.writeSSE({ data: chunk([], { usage, ...extensionsOnly(extensions) }) });
          await stream.writeSSE({ data: "[DONE]" });
          metrics.requests.inc({ model: modelLabel, route, status: "200" });
        } catch (e) {
          // headers are sent: an error can only be a last event, in OpenAI's shape
          const err = e instanceof InferenceError ? e : new InferenceError(500, "server_error", "internal_error", "The server had an error while processing your request.");
          if (!(e instanceof InferenceError)) log("error", "generation failed", { requestId, error: String((e as Error).stack ?? e) });
          metrics.requests.inc({ model: modelLabel, route, status: String(err.status) });
          await stream.writeSSE({ data: JSON.stringify(openaiError(err.message, err.type, err.code, err.param)) }).catch(() => {});
        } finally {
          finish();
        }
      });
    } catch (e) {
      const status = e instanceof InferenceError ? e.status : 500;
      metrics.requests.inc({ model: modelLabel, route, status: String(status) });
      throw e;
    }
  }

  // one generation on the backend, timed, then the hooks; a backend error still reaches the hooks
  async function generate(
    ctx: RequestContext,
    promptText: string,
    promptTokenIds: number[],
    gen: { maxTokens: number; temperature: number; topP: number; seed: number; stop: string[] },
    signal: AbortSignal,
    onText: (delta: string) => void,
  ): Promise<{ result: GenerationResult; extensions: Record<string, unknown> }> {
    const label = metrics.label(ctx.model.id);
    // the call's own series, looked up once (on its second token, so a one-token call adds
    // none): a lookup by labels hashes them on every token
    let itl: ReturnType<typeof metrics.itl.labels> | null = null;
    let firstTokenAt: number | null = null;
    let lastToken = 0;
    const onToken = () => {
      const now = performance.now();
      if (firstTokenAt === null) {
        firstTokenAt = Date.now();
        metrics.ttft.observe({ model: label }, (firstTokenAt - ctx.receivedAt) / 1000);
      } else (itl ??= metrics.itl.labels({ model: label })).observe((now - lastToken) / 1000);
      lastToken = now;
    };
    let result: GenerationResult;
    try {
      result = await backend.generate({ model: ctx.model, promptTokenIds, ...gen, signal, onText, onToken });
    } catch (e) {
      const record = recordOf(ctx, promptText, promptTokenIds, { completionTokenIds: [], text: "", finishReason: "cancelled" }, "error", firstTokenAt);
      await runGenerationHooks(hooks, record, (error) => log("error", "generation hook failed", { requestId: ctx.requestId, error: String(error) }));
      throw e;
    }
    metrics.promptTokens.inc({ model: label }, promptTokenIds.length);
    metrics.completionTokens.inc({ model: label }, result.completionTokenIds.length);
    const record = recordOf(ctx, promptText, promptTokenIds, result, result.finishReason, firstTokenAt);
    const extensions = await runGenerationHooks(hooks, record, (error) => log("error", "generation hook failed", { requestId: ctx.requestId, error: String(error) }));
    return { result, extensions };
  }

  return { app, admission, metrics };
}

function recordOf(ctx: RequestContext, promptText: string, promptTokenIds: number[], r: GenerationResult, finishReason: GenerationRecord["finishReason"], firstTokenAt: number | null): GenerationRecord {
  return {
    ctx,
    promptText,
    promptTokenIds,
    completionTokenIds: r.completionTokenIds,
    completionText: r.text,
    usage: { promptTokens: promptTokenIds.length, completionTokens: r.completionTokenIds.length, totalTokens: promptTokenIds.length + r.completionTokenIds.length },
    finishReason,
    timings: { receivedAt: ctx.receivedAt, firstTokenAt, finishedAt: Date.now() },
  };
}

function usageOf(prompt: number, completion: number) {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

// extension fields never shadow a chunk's own keys
function extensionsOnly(ext: Record<string, unknown>): Record<string, unknown> {
  const own = new Set(["id", "object", "created", "model", "choices", "usage", "system_fingerprint"]);
  return Object.fromEntries(Object.entries(ext).filter(([k]) => !own.has(k)));
}

function modelObject(m: ServedModel) {
  // `price` is our extension (token base units, as GET /v1/adapters/{id}/price): what a paying client budgets with.
  return { id: m.id, object: "model", created: m.created, owned_by: m.owner ?? "modelfactory", parent: m.kind === "adapter" ? m.baseModel : null, root: m.baseModel, ...(m.price ? { price: m.price } : {}) };
}

/** The body as JSON, refusing more than `max` bytes and text that is not JSON (400 in OpenAI's shape). */
async function readJson(request: Request, max: number): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > max) throw new InferenceError(413, "invalid_request_error", "request_too_large", `Request bodies are limited to ${max} bytes.`);
  const text = await request.text();
  if (Buffer.byteLength(text) > max) throw new InferenceError(413, "invalid_request_error", "request_too_large", `Request bodies are limited to ${max} bytes.`);
  try {
    return JSON.parse(text);
  } catch {
    throw invalidRequest("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)");
  }
}
