import { createHash, randomBytes } from "node:crypto";
import type { Address, Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { UnauthorizedError } from "../errors.ts";
import type { Item, Key } from "../ports/tables.ts";

/**
 * API keys: `mf_` + 32 random bytes in base64url. Only the key's SHA-256 is
 * stored (`pk APIKEY#{sha256hex}`), so a leaked table does not leak keys;
 * a plain hash is enough because the key has 256 bits of entropy.
 */

export const API_KEY_PREFIX = "mf_";
// 32 bytes in unpadded base64url are 43 characters.
const API_KEY_PATTERN = /^mf_[A-Za-z0-9_-]{43}$/;

/** A new random API key (the only time it exists in clear). */
export function newApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString("base64url");
}

/** Lower-case hex SHA-256 of an API key. */
export function hashApiKey(apiKey: string): string {
  return createHash("sha256").update(apiKey, "utf8").digest("hex");
}

/** Key of the item that stores an API key's hash. */
export function apiKeyKey(apiKey: string): Key {
  return { pk: `APIKEY#${hashApiKey(apiKey)}`, sk: "APIKEY" };
}

/** The item recording an API key for an account; listable per account on gsi1. */
export function apiKeyItem(apiKey: string, address: Address, now: number): Item {
  const createdAt = new Date(now).toISOString();
  return {
    ...apiKeyKey(apiKey),
    address,
    createdAt,
    gsi1pk: `ACCOUNT#${address}`,
    gsi1sk: `APIKEY#${createdAt}`,
  };
}

/**
 * The caller an API key belongs to. Throws UnauthorizedError with code
 * `missing-api-key` when none is given and `invalid-api-key` when it is unknown.
 */
export async function authenticate(deps: Pick<CoreDeps, "tables">, apiKey: string | undefined): Promise<Caller> {
  if (!apiKey) throw new UnauthorizedError("An API key is required: send `Authorization: Bearer <apiKey>`", "missing-api-key");
  // Malformed keys never reach the table.
  if (!API_KEY_PATTERN.test(apiKey)) throw new UnauthorizedError("The API key is not valid", "invalid-api-key");
  const item = await deps.tables.main.get(apiKeyKey(apiKey));
  if (!item || typeof item.address !== "string") throw new UnauthorizedError("The API key is not valid", "invalid-api-key");
  return { address: item.address };
}
