import { z } from "zod";
import { PROBLEM_BASE, PROBLEM_CONTENT_TYPE } from "./problem.ts";

/** Shared pieces of the OpenAPI document: the problem schema, error responses, security, pages. */

export const SECURITY_SCHEME = "bearerAuth";

/** `security` of a route that needs `Authorization: Bearer <apiKey>`. */
export const bearer = [{ [SECURITY_SCHEME]: [] }];

/**
 * `security` of a public read (api/auth-middleware.ts PUBLIC_READS): without a key it answers with
 * public items only; with one, the caller's own private items too. `{}` is OpenAPI's "no credentials".
 */
export const optionalBearer: Record<string, string[]>[] = [{}, { [SECURITY_SCHEME]: [] }];

export const ProblemSchema = z
  .object({
    type: z.string().meta({ example: `${PROBLEM_BASE}not-found` }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z
      .array(z.object({ in: z.string(), path: z.string(), message: z.string() }))
      .optional()
      .meta({ description: "On `validation-failed`: each invalid field" }),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem details; branch on `type`" });

const descriptions: Record<number, string> = {
  400: "Invalid request (`validation-failed`, `invalid-cursor`, `malformed-request`, …)",
  401: "Missing or invalid API key (`missing-api-key`, `invalid-api-key`) or failed sign-in",
  403: "Not allowed (`forbidden`)",
  404: "No such resource, or one the caller may not see (`not-found`)",
  409: "Conflict with the current state",
  413: "Request body too large (`payload-too-large`)",
  415: "Body is not `application/json` (`unsupported-media-type`)",
  500: "Unexpected error (`internal-error`)",
};

const problemContent = { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } };

/** Problem responses for the given statuses, in the shape `createRoute` wants. */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, { description: string; content: typeof problemContent }> {
  return Object.fromEntries(
    [...statuses, 500].map((s) => [s, { description: descriptions[s] ?? "Error", content: problemContent }]),
  ) as Record<S, { description: string; content: typeof problemContent }>;
}

/** Responses every protected JSON route can give besides its own. */
export const protectedErrors = [400, 401] as const;

/** A `200`/`201` JSON response entry. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

/** A page of items: `{ items, nextCursor? }`. */
export function page<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      items: z.array(item),
      nextCursor: z.string().optional().meta({ description: "Pass as `cursor` for the next page; absent on the last page" }),
    })
    .meta({ id });
}

export const CursorQuery = z
  .string()
  .max(1024)
  .optional()
  .meta({ description: "`nextCursor` of the previous page" });

/**
 * A path or query integer in its one canonical spelling: `1`, never `01`,
 * `+1`, `0x1`, `1e0` or ` 1`, which `z.coerce.number()` would all read as 1
 * (one resource, one URL; no spellings to slip past a cache or a log filter).
 */
export function canonicalInteger(min: number, max: number) {
  return z
    .string()
    .regex(/^(0|[1-9][0-9]{0,14})$/, "must be a decimal integer, without sign, leading zeros, spaces or exponent")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

export const LimitQuery = canonicalInteger(1, 100).optional().meta({ description: "Page size (1–100)" });
