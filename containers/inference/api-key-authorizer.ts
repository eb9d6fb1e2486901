// Today's Authorizer: the platform's API keys (`Authorization: Bearer mf_…`, core/auth).
// Every call needs a valid key; the key's hash is the principal the per-key cap counts.
import { authenticate, hashApiKey } from "../../core/auth/index.ts";
import type { CoreDeps } from "../../core/deps.ts";
import { DomainError } from "../../core/errors.ts";
import { invalidApiKey, missingApiKey, openaiError } from "./errors.ts";
import type { Authorizer } from "./hooks.ts";

/** The bearer token of an `Authorization` header; undefined when absent, throws 401 when malformed. */
export function bearerToken(headers: Headers): string | undefined {
  const header = headers.get("authorization");
  if (header === null) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) throw invalidApiKey();
  return match[1];
}

/** Authorizer over the platform's API keys: anonymous callers are refused with 401 in OpenAI's shape. */
export function apiKeyAuthorizer(deps: Pick<CoreDeps, "tables">): Authorizer {
  return {
    async identify(headers) {
      const key = bearerToken(headers);
      if (key === undefined) return null;
      try {
        return await authenticate(deps, key);
      } catch (e) {
        if (e instanceof DomainError && e.status === 401) throw invalidApiKey();
        throw e;
      }
    },
    async authorize(ctx) {
      if (!ctx.caller) {
        const e = missingApiKey();
        return { allow: false, status: 401, body: openaiError(e.message, e.type, e.code) };
      }
      const key = bearerToken(ctx.headers);
      return { allow: true, payer: ctx.caller.address, principal: key ? `key:${hashApiKey(key)}` : `account:${ctx.caller.address}` };
    },
  };
}
