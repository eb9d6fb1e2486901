/**
 * RFC 9457 problem details. Every HTTP error the platform returns has this
 * body and content type; `type` is stable and meant for machines to branch on.
 */
export const PROBLEM_BASE = "https://modelfactory.dev/problems/";
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
};

/** Builds a problem+json Response; `code` becomes the last segment of `type`. */
export function problemResponse(
  status: number,
  code: string,
  detail?: string,
  extensions: Record<string, unknown> = {},
): Response {
  const body: Problem = {
    type: PROBLEM_BASE + code,
    title: titles[status] ?? "Error",
    status,
    ...(detail ? { detail } : {}),
    ...extensions,
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": PROBLEM_CONTENT_TYPE },
  });
}
