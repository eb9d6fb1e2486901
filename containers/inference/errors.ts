// Errors of the OpenAI routes, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
// `type` and `code` follow what api.openai.com sends for the same situation, so clients that
// branch on them (the openai package maps status codes to error classes) behave the same.

/** An error the inference service answers with; `status` is the HTTP status. */
export class InferenceError extends Error {
  override name = "InferenceError";
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  /** Extra response headers, e.g. `Retry-After` on a 429. */
  readonly headers: Record<string, string>;
  constructor(status: number, type: string, code: string | null, message: string, param: string | null = null, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
    this.headers = headers;
  }
}

/** The JSON body OpenAI sends with an error. */
export function openaiError(message: string, type: string, code: string | null = null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new InferenceError(400, "invalid_request_error", code, message, param);

export const modelNotFound = (model: string) =>
  new InferenceError(404, "invalid_request_error", "model_not_found", `The model \`${model}\` does not exist or you do not have access to it.`, "model");

export const missingApiKey = () =>
  new InferenceError(401, "invalid_request_error", "missing_api_key", "You didn't provide an API key. Send it as `Authorization: Bearer <apiKey>`.");

export const invalidApiKey = () => new InferenceError(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.");

export const contextLengthExceeded = (message: string, param = "messages") =>
  new InferenceError(400, "invalid_request_error", "context_length_exceeded", message, param);

/** 429: the queue is full or a concurrency cap is reached; `Retry-After` says when to come back. */
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  new InferenceError(429, "rate_limit_exceeded", "rate_limit_exceeded", message, null, { "retry-after": String(retryAfterSeconds) });

/** 503: this model cannot be served right now (its adapter file is missing or corrupt, the store is down, or the service is not ready). */
export const unavailable = (message: string, code = "model_unavailable") =>
  new InferenceError(503, "server_error", code, message, null, { "retry-after": "5" });

/** 504-like timeout; OpenAI answers timeouts with 408 at the edge, we keep the status clients retry on. */
export const timedOut = (seconds: number) =>
  new InferenceError(408, "timeout", "request_timeout", `The request took longer than ${seconds} s and was stopped.`);
