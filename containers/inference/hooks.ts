// The seams other concerns plug into the inference service through, kept small on purpose:
//   RequestContext  what one OpenAI call is: id, route, caller/payer, model and its price
//   Authorizer      ONE interface deciding who calls and whether the call may run
//                   (today: platform API keys; pay-per-call replaces or wraps it and may answer 402)
//   GenerationHook  called once after every generation, finished or cut off, with the token ids;
//                   what it returns is merged into the response (e.g. `attribution`)
// createInferenceApp (app.ts) takes `authorizer` and `hooks` in its options.
import type { Caller } from "../../core/account.ts";

/** What a request may name as `model`: a base model, or an adapter over one. */
export interface ServedModel {
  /** The id clients send as `model` (the base model id, or the adapter id). */
  id: string;
  kind: "base" | "adapter";
  /** Id of the base model it runs on (itself for a base). */
  baseModel: string;
  /** Account that owns the adapter; null for a base model. */
  owner: string | null;
  visibility: "public" | "private";
  /** How chat requests are rendered into a prompt: the template the trainer used. */
  promptTemplate: "text" | "instruction" | "chat";
  /** Token base units per call, decimal string ("0" for a base model). */
  pricePerCall: string;
  /** The price the owner set (per call and per 1 000 output tokens), as /v1/models shows it; only on listings. */
  price?: { perCall: string; perThousandOutputTokens: string };
  /** Seconds since the epoch, as OpenAI's `created`. */
  created: number;
  /** Blob keys of the adapter's PEFT files (adapters only). */
  files?: { config: string; weights: string };
}

/** One OpenAI call from the moment its model is known; hooks may read it and add to `extensions`. */
export interface RequestContext {
  /** `chatcmpl-…` / `cmpl-…`: the response `id`, unique per call; usage records are idempotent by it. */
  requestId: string;
  route: "chat.completions" | "completions";
  /** When the request arrived, ms since the epoch. */
  receivedAt: number;
  /** The authenticated account, or null for an anonymous (e.g. paying) caller. */
  caller: Caller | null;
  /** Who is charged: the caller's address by default; a payment authorizer sets the voucher's payer. */
  payer: string | null;
  /** Key the per-key concurrency cap counts against (the API key's hash, a payer address, …). */
  principal: string;
  model: ServedModel;
  /** What this call costs, decimal token base units (the model's pricePerCall unless the authorizer sets another). */
  price: string;
  /** The request's `user` field (OpenAI's end-user id), if any. */
  user?: string | null;
  /** The request's headers (a payment authorizer reads its voucher header here). */
  headers: Headers;
  /** Set by the authorizer for whatever it needs after the generation (e.g. the voucher to redeem). */
  grant?: unknown;
  /** The most tokens this call may generate (max_tokens, or what the context leaves): what a payment quote prices. */
  maxTokens?: number;
  /** Whether the response is streamed (a cut-off stream delivered its tokens; a cut-off JSON response delivered none). */
  stream?: boolean;
  /** Headers a hook adds to a non-streamed response (e.g. `PAYMENT-RESPONSE` with the actual charge). */
  responseHeaders?: Record<string, string>;
}

/** The answer of `Authorizer.authorize`: run the call, or answer with this status, headers and JSON body. */
export type Authorization =
  | {
      allow: true;
      payer: string | null;
      principal: string;
      /** Override of the model's price for this call. */
      price?: string;
      /** Headers to send with the response (e.g. `PAYMENT-RESPONSE`). */
      headers?: Record<string, string>;
      grant?: unknown;
    }
  | {
      allow: false;
      /** 401, 402 (payment required), 403 or 429. */
      status: 401 | 402 | 403 | 429;
      headers?: Record<string, string>;
      /** Sent as JSON; for 401/403 use OpenAI's `{error: {message, type, param, code}}` (see openaiError). */
      body: unknown;
    };

/**
 * Who may call, and whether a call may run. `identify` runs first (a private adapter is only
 * visible to its owner, so the model cannot be resolved before the caller is known); then
 * `authorize` runs with the resolved model and its price, before the call is queued.
 */
export interface Authorizer {
  /**
   * The caller named by the request's credentials, or null when it names none (anonymous).
   * Throw `InferenceError` (errors.ts, e.g. `invalidApiKey()`) for credentials that are present but wrong.
   */
  identify(headers: Headers): Promise<Caller | null>;
  /** May this call run? Called once per call, with the model resolved for the caller. */
  authorize(ctx: Omit<RequestContext, "payer" | "principal" | "price" | "grant" | "responseHeaders">): Promise<Authorization>;
}

/** What happened in one generation; handed to every GenerationHook. */
export interface GenerationRecord {
  ctx: RequestContext;
  /** The rendered prompt (after the chat template) and its token ids, BOS included. */
  promptText: string;
  promptTokenIds: number[];
  /** Every sampled token id, EOS included when it ended the text. */
  completionTokenIds: number[];
  /** The completion as returned (stop sequence excluded). */
  completionText: string;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  /**
   * `stop` | `length` as in the response; `cancelled` when the client went away or the request
   * timed out before the end (the hook still runs, nothing is sent back); `error` when the backend failed.
   */
  finishReason: "stop" | "length" | "cancelled" | "error";
  /** ms since the epoch: queued, first token, finished. */
  timings: { receivedAt: number; firstTokenAt: number | null; finishedAt: number };
}

/**
 * Called after each generation, before the final response or stream chunk is sent. The fields
 * of the object it returns are added at the top level of the response (non-streaming) or of
 * the last chunk (streaming), e.g. `{ attribution: {...} }`; keys the response already has are
 * not overwritten. A hook that throws is logged and does not fail the call (the tokens are
 * generated already); one that must fail a call should do so in `Authorizer.authorize`.
 */
export type GenerationHook = (record: GenerationRecord) => Promise<Record<string, unknown> | void> | Record<string, unknown> | void;

/** Runs the hooks in order and merges their extension fields (first writer of a key wins). */
export async function runGenerationHooks(
  hooks: readonly GenerationHook[],
  record: GenerationRecord,
  onError: (error: unknown) => void,
): Promise<Record<string, unknown>> {
  const extensions: Record<string, unknown> = {};
  for (const hook of hooks) {
    try {
      const fields = await hook(record);
      if (fields) for (const [k, v] of Object.entries(fields)) if (!(k in extensions)) extensions[k] = v;
    } catch (error) {
      onError(error);
    }
  }
  return extensions;
}

/** Adds extension fields to a response object without overwriting what OpenAI's shape defines. */
export function withExtensions<T extends Record<string, unknown>>(body: T, extensions: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...body };
  for (const [k, v] of Object.entries(extensions)) if (!(k in out)) out[k] = v;
  return out as T;
}
