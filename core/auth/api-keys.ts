import { createHash, randomBytes } from "node:crypto";
import type { Address, Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { z } from "zod";
import { ConflictError, NotFoundError, UnauthorizedError, ValidationError } from "../errors.ts";
import { queryAll } from "../query-all.ts";
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

/** What an account sees of one of its keys (never the key itself, which is shown once at creation). */
export const ApiKeyInfo = z
  .object({
    id: z.string().meta({ description: "Stable id of the key (derived from its hash), for revoking it" }),
    name: z.string(),
    /** The key's first characters, so a user can tell keys apart. */
    prefix: z.string(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
  })
  .meta({ id: "ApiKeyInfo" });
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

export const CreateApiKeyInput = z
  .strictObject({
    name: z.string().trim().min(1).max(64),
    /** Days until the key stops working (1–365, default 90). */
    expiresInDays: z.number().int().min(1).max(365).default(90),
  })
  .meta({ id: "CreateApiKeyInput" });
export type CreateApiKeyInput = z.input<typeof CreateApiKeyInput>;

/** How long the key a sign-in returns works. */
export const SIGN_IN_KEY_DAYS = 30;
/** Keys of one account, counting unexpired ones only; sign-in keys expire, so they never fill it. */
export const MAX_API_KEYS = 50;
const DAY_MS = 86_400_000;

const keyId = (hash: string) => `key_${hash.slice(0, 24)}`;

/**
 * The item recording an API key for an account; listable per account on
 * gsi1. An expiring key carries `ttl`, so the table drops it a day after it
 * expired (the expiry itself is checked on every request).
 */
export function apiKeyItem(apiKey: string, address: Address, now: number, options: { name?: string; expiresAt?: number | null } = {}): Item {
  const createdAt = new Date(now).toISOString();
  const expiresAt = options.expiresAt ?? null;
  return {
    ...apiKeyKey(apiKey),
    address,
    name: options.name ?? "API key",
    prefix: apiKey.slice(0, API_KEY_PREFIX.length + 6),
    createdAt,
    expiresAt,
    ...(expiresAt !== null ? { ttl: Math.ceil(expiresAt / 1000) + 86_400 } : {}),
    gsi1pk: `ACCOUNT#${address}`,
    gsi1sk: `APIKEY#${createdAt}`,
  };
}

/**
 * The caller an API key belongs to. Throws UnauthorizedError with code
 * `missing-api-key` when none is given and `invalid-api-key` when it is
 * unknown, revoked or expired.
 */
export async function authenticate(deps: Pick<CoreDeps, "tables"> & Partial<Pick<CoreDeps, "clock">>, apiKey: string | undefined): Promise<Caller> {
  if (!apiKey) throw new UnauthorizedError("An API key is required: send `Authorization: Bearer <apiKey>`", "missing-api-key");
  // Malformed keys never reach the table.
  if (!API_KEY_PATTERN.test(apiKey)) throw new UnauthorizedError("The API key is not valid", "invalid-api-key");
  const item = await deps.tables.main.get(apiKeyKey(apiKey));
  if (!item || typeof item.address !== "string") throw new UnauthorizedError("The API key is not valid", "invalid-api-key");
  const now = deps.clock?.now() ?? Date.now();
  if (typeof item.expiresAt === "number" && item.expiresAt <= now) throw new UnauthorizedError("The API key has expired", "invalid-api-key");
  return { address: item.address };
}

/** The caller's keys that still work, newest first. */
export async function listApiKeys(deps: Pick<CoreDeps, "tables" | "clock">, caller: Caller): Promise<ApiKeyInfo[]> {
  const now = deps.clock.now();
  const items: Item[] = [];
  for await (const item of queryAll(deps.tables.main, { pk: `ACCOUNT#${caller.address}`, index: "gsi1", skPrefix: "APIKEY#", reverse: true })) {
    if (typeof item.expiresAt !== "number" || item.expiresAt > now) items.push(item);
  }
  return items.map(infoOf);
}

/** Creates a named key with an expiry; the key is in the result only, never stored in clear. */
export async function createApiKey(deps: Pick<CoreDeps, "tables" | "clock">, caller: Caller, input: unknown): Promise<ApiKeyInfo & { apiKey: string }> {
  const parsed = CreateApiKeyInput.safeParse(input);
  if (!parsed.success) throw new ValidationError("Invalid API key request", parsed.error.issues);
  const existing = await listApiKeys(deps, caller);
  if (existing.length >= MAX_API_KEYS) throw new ConflictError(`An account may hold at most ${MAX_API_KEYS} unexpired keys; revoke one first`, "too-many-api-keys");
  const now = deps.clock.now();
  const apiKey = newApiKey();
  const item = apiKeyItem(apiKey, caller.address, now, { name: parsed.data.name, expiresAt: now + parsed.data.expiresInDays * DAY_MS });
  await deps.tables.main.put(item, { notExists: true });
  return { ...infoOf(item), apiKey };
}

/** Revokes one of the caller's keys at once; another account's key id, or an unknown one, is a 404. */
export async function revokeApiKey(deps: Pick<CoreDeps, "tables" | "clock">, caller: Caller, id: string): Promise<void> {
  for await (const item of queryAll(deps.tables.main, { pk: `ACCOUNT#${caller.address}`, index: "gsi1", skPrefix: "APIKEY#" })) {
    if (infoOf(item).id !== id) continue;
    await deps.tables.main.delete({ pk: item.pk, sk: item.sk });
    return;
  }
  throw new NotFoundError("API key");
}

/** A sign-in key's expiry. */
export const signInKeyExpiry = (now: number) => now + SIGN_IN_KEY_DAYS * DAY_MS;

function infoOf(item: Item): ApiKeyInfo {
  const hash = item.pk.slice("APIKEY#".length);
  return {
    id: keyId(hash),
    name: (item.name as string | undefined) ?? "Sign-in",
    prefix: (item.prefix as string | undefined) ?? API_KEY_PREFIX,
    createdAt: item.createdAt as string,
    expiresAt: typeof item.expiresAt === "number" ? new Date(item.expiresAt).toISOString() : null,
  };
}
