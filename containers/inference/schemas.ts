// Request bodies of the OpenAI routes. Fields OpenAI defines that change nothing here
// (penalties, logit_bias, metadata, …) are accepted and ignored, as vLLM does; fields whose
// meaning we cannot honour (n > 1, tools, logprobs) are refused with a 400 naming the param.
import { z } from "zod";
import { invalidRequest, type InferenceError } from "./errors.ts";

const TextPart = z.object({ type: z.literal("text"), text: z.string() });
const Content = z.union([z.string(), z.array(TextPart).min(1)]).transform((c) => (typeof c === "string" ? c : c.map((p) => p.text).join("")));

const Message = z.object({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: Content,
  name: z.string().optional(),
});

const Stop = z
  .union([z.string(), z.array(z.string()).max(4)])
  .nullish()
  .transform((s) => (s == null ? [] : typeof s === "string" ? [s] : s).filter((x) => x.length > 0));

const Common = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  stop: Stop,
  n: z.literal(1, { error: "Only n = 1 is supported" }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  user: z.string().max(256).nullish(),
  logprobs: z.literal(false, { error: "logprobs are not supported" }).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
};

export const ChatCompletionRequest = z.object({
  ...Common,
  messages: z.array(Message).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  tools: z.array(z.unknown()).max(0, { error: "tools are not supported" }).nullish(),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

export const CompletionRequest = z.object({
  ...Common,
  // a string, or a one-element list of one (batches of prompts would need n choices)
  prompt: z.union([z.string(), z.array(z.string()).length(1, { error: "Only one prompt per request is supported" })]).transform((p) => (typeof p === "string" ? p : p[0]!)),
  echo: z.literal(false, { error: "echo is not supported" }).nullish(),
  suffix: z.null({ error: "suffix is not supported" }).optional(),
  best_of: z.literal(1, { error: "Only best_of = 1 is supported" }).nullish(),
});
export type CompletionRequest = z.infer<typeof CompletionRequest>;

/** Parse a JSON body with a schema, or throw a 400 in OpenAI's shape that names the first bad param. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw invalidRequest("The request body must be a JSON object.");
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("") || null;
  const missing = issue.code === "invalid_type" && (body as Record<string, unknown>)[String(issue.path[0])] === undefined && issue.path.length === 1;
  throw invalidRequest(missing ? `Missing required parameter: '${param}'.` : `Invalid value for '${param}': ${issue.message}`, param) satisfies InferenceError;
}
