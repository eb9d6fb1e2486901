import type { Context, MiddlewareHandler } from "hono";
import { ZeroAddress } from "ethers";
import type { Caller } from "../core/account.ts";
import { authenticate } from "../core/auth/index.ts";
import type { CoreDeps } from "../core/deps.ts";
import { UnauthorizedError } from "../core/errors.ts";
import type { AppEnv } from "./env.ts";

export interface AuthOptions {
  /** Path prefixes that need no API key (matched against the request path). */
  publicPrefixes: string[];
  /**
   * GET routes (OpenAPI path templates, e.g. `/v1/datanets/{id}`) a visitor may call without a key;
   * they answer as for an account that owns nothing: public items only.
   */
  publicReads?: readonly string[];
}

/**
 * The caller of a public read sent without credentials. The zero address
 * owns nothing and nobody can sign in as it (no key signs for it), so every
 * ownership check fails and every visibility check admits public items only:
 * a private item stays a 404, exactly as for another account.
 */
export const ANONYMOUS: Caller = Object.freeze({ address: ZeroAddress });

/** Whether the request came without credentials (a public read). */
export const isAnonymous = (c: Context<AppEnv>): boolean => c.get("caller") === ANONYMOUS;

/**
 * The reads a visitor may make without signing in: public Datanets (with
 * their contributions, statistics, versions and proofs), adapters and their
 * prices, and a public job (an adapter's lineage links to it). Everything
 * else, and every write, needs a key.
 */
export const PUBLIC_READS = [
  "/v1/datanets",
  "/v1/datanets/{id}",
  "/v1/datanets/{id}/contributions",
  "/v1/datanets/{id}/stats",
  "/v1/datanets/{id}/versions/{version}",
  "/v1/datanets/{id}/versions/{version}/proof",
  "/v1/adapters",
  "/v1/adapters/{id}",
  "/v1/adapters/{id}/price",
  "/v1/jobs/{id}",
  "/v1/chain",
] as const;

/** A path template as a regular expression: each `{param}` is one non-empty segment. */
function templatePattern(template: string): RegExp {
  const escaped = template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${escaped.join("[^/]+")}/?$`);
}

/**
 * Requires `Authorization: Bearer <apiKey>` and sets the `caller`; requests
 * under a public prefix pass untouched, and a public read without an
 * Authorization header runs as ANONYMOUS. A header that is sent is always
 * checked, so a bad key is a 401 even where none is needed. Failures throw
 * UnauthorizedError, which the error handler turns into a 401 problem.
 */
export function requireApiKey(deps: Pick<CoreDeps, "tables" | "clock">, options: AuthOptions): MiddlewareHandler<AppEnv> {
  const reads = (options.publicReads ?? []).map(templatePattern);
  return async (c, next) => {
    if (c.req.method === "OPTIONS" || options.publicPrefixes.some((p) => c.req.path.startsWith(p))) return next();
    const header = c.req.header("authorization");
    if (header === undefined && (c.req.method === "GET" || c.req.method === "HEAD") && reads.some((r) => r.test(c.req.path))) {
      c.set("caller", ANONYMOUS);
      return next();
    }
    const match = header === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(header);
    if (match === null) throw new UnauthorizedError("The Authorization header must be `Bearer <apiKey>`", "invalid-api-key");
    c.set("caller", await authenticate(deps, match?.[1]));
    return next();
  };
}
