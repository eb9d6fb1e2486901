import type { MiddlewareHandler } from "hono";
import { authenticate } from "../core/auth/index.ts";
import type { CoreDeps } from "../core/deps.ts";
import { UnauthorizedError } from "../core/errors.ts";
import type { AppEnv } from "./env.ts";

export interface AuthOptions {
  /** Path prefixes that need no API key (matched against the request path). */
  publicPrefixes: string[];
}

/**
 * Requires `Authorization: Bearer <apiKey>` and sets the `caller`; requests
 * under a public prefix pass untouched. Failures throw UnauthorizedError,
 * which the error handler turns into a 401 problem.
 */
export function requireApiKey(deps: Pick<CoreDeps, "tables" | "clock">, options: AuthOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method === "OPTIONS" || options.publicPrefixes.some((p) => c.req.path.startsWith(p))) return next();
    const header = c.req.header("authorization");
    const match = header === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(header);
    if (match === null) throw new UnauthorizedError("The Authorization header must be `Bearer <apiKey>`", "invalid-api-key");
    c.set("caller", await authenticate(deps, match?.[1]));
    return next();
  };
}
