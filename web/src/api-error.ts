/**
 * An HTTP error from the API, carrying its RFC 9457 problem details so views
 * can show `detail` to people and branch on the stable `type` (its `code`).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** Per-field messages when the API reports them (key: dotted field path). */
  readonly fields: Record<string, string>;

  constructor(status: number, problem: Record<string, unknown>) {
    const title = typeof problem.title === "string" ? problem.title : `HTTP ${status}`;
    const detail = typeof problem.detail === "string" ? problem.detail : undefined;
    super(detail ?? title);
    this.name = "ApiError";
    this.status = status;
    this.type = typeof problem.type === "string" ? problem.type : "about:blank";
    this.title = title;
    this.detail = detail;
    this.fields = fieldErrors(problem);
  }

  /** The last path segment of `type`, e.g. "validation-failed". */
  get code(): string {
    return this.type.split("/").pop() ?? this.type;
  }
}

/**
 * Reads field-level messages from the extension shapes APIs commonly use:
 * `errors: [{path, message}]` (zod issues, path as array or string) and
 * `invalidParams: [{name, reason}]` (RFC 9457's own example).
 */
export function fieldErrors(problem: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const lists = [problem.errors, problem.issues, problem.invalidParams, problem["invalid-params"]];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const entry of list) {
      if (typeof entry !== "object" || entry === null) continue;
      const e = entry as Record<string, unknown>;
      const rawPath = e.path ?? e.name ?? e.field ?? e.pointer;
      const path = Array.isArray(rawPath)
        ? rawPath.join(".")
        : typeof rawPath === "string"
          ? rawPath.replace(/^#?\//, "").replaceAll("/", ".")
          : "";
      const message = e.message ?? e.reason ?? e.detail;
      if (typeof message === "string" && !(path in out)) out[path] = message;
    }
  }
  return out;
}

/** Builds an ApiError from a failed fetch Response, whatever its body is. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null) problem = parsed as Record<string, unknown>;
  } catch {
    if (text.trim()) problem = { detail: text.trim().slice(0, 500) };
  }
  return new ApiError(res.status, problem);
}
