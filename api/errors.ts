import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import { DomainError } from "../core/errors.ts";
import { problemResponse } from "./problem.ts";

/**
 * The one place errors become HTTP responses: every one is
 * `application/problem+json` with a stable `type`.
 */

/** Maps a thrown error to a problem response; internals of unexpected errors never leave the server. */
export const onError: ErrorHandler = (error, c) => {
  const instance = { instance: c.req.path };
  if (error instanceof DomainError) {
    const extra = error.code === "validation-failed" && Array.isArray(error.details) ? { errors: issues("body", error.details) } : {};
    const res = problemResponse(error.status, error.code, error.message, { ...instance, ...extra, ...error.extensions });
    for (const [name, value] of Object.entries(error.headers ?? {})) res.headers.set(name, value);
    if (error.status === 401) res.headers.set("www-authenticate", 'Bearer realm="model-factory"');
    return res;
  }
  if (error instanceof HTTPException) {
    // Raised by hono itself: malformed JSON, wrong content type, body limit.
    const code = httpCodes[error.status] ?? "http-error";
    return problemResponse(error.status, code, error.message || undefined, instance);
  }
  console.error(JSON.stringify({ level: "error", msg: "unhandled error", path: c.req.path, error: String(error), stack: (error as Error).stack }));
  return problemResponse(500, "internal-error", "An unexpected error occurred", instance);
};

const httpCodes: Record<number, string> = {
  400: "malformed-request",
  401: "unauthorized",
  404: "not-found",
  405: "method-not-allowed",
  413: "payload-too-large",
  415: "unsupported-media-type",
};

/** Unknown routes answer 404 problem+json. */
export const notFound: NotFoundHandler = (c) =>
  problemResponse(404, "not-found", `No route for ${c.req.method} ${c.req.path}`, { instance: c.req.path });

/** The zod-openapi `defaultHook`: a failed validation answers 400 `validation-failed` listing each issue. */
export function validationHook(result: { success: boolean; target: string; error?: ZodError }, c: Context): Response | undefined {
  if (result.success || !result.error) return undefined;
  return problemResponse(400, "validation-failed", `The request ${result.target} is not valid`, {
    instance: c.req.path,
    errors: issues(result.target, result.error.issues),
  });
}

function issues(target: string, list: unknown[]): { in: string; path: string; message: string }[] {
  return list.map((raw) => {
    const issue = raw as { path?: PropertyKey[]; message?: string };
    return { in: target, path: (issue.path ?? []).map(String).join("."), message: issue.message ?? "invalid" };
  });
}
