import { randomBytes } from "node:crypto";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, UnauthorizedError } from "../errors.ts";
import type { Key } from "../ports/tables.ts";

/**
 * SIWE nonces. The server issues each one, keeps it for
 * `config.nonceTtlSeconds`, and lets exactly one sign-in consume it.
 * Item: `pk NONCE#{nonce}`, `sk NONCE`, `issuedAt` and `expiresAt` (epoch ms), `ttl` (epoch s,
 * DynamoDB's TTL on AWS, `deleteExpired` locally).
 */

const nonceKey = (nonce: string): Key => ({ pk: `NONCE#${nonce}`, sk: "NONCE" });

/** Issues a fresh nonce: 32 hex characters (128 random bits; EIP-4361 asks for ≥ 8 alphanumerics). */
export async function issueNonce(deps: Pick<CoreDeps, "tables" | "clock" | "config">): Promise<{ nonce: string; issuedAt: string }> {
  const nonce = randomBytes(16).toString("hex");
  const now = deps.clock.now();
  const expiresAt = now + deps.config.nonceTtlSeconds * 1000;
  await deps.tables.main.put(
    { ...nonceKey(nonce), issuedAt: now, expiresAt, ttl: Math.ceil(expiresAt / 1000) },
    { notExists: true },
  );
  return { nonce, issuedAt: new Date(now).toISOString() };
}

/**
 * Consumes a nonce exactly once: a conditional delete, so of two sign-ins
 * racing with the same nonce only one gets past here. Throws
 * UnauthorizedError `invalid-nonce` when it was never issued, is used, or expired.
 */
export async function consumeNonce(deps: Pick<CoreDeps, "tables" | "clock" | "config">, nonce: string): Promise<{ issuedAt: number }> {
  const key = nonceKey(nonce);
  const item = await deps.tables.main.get(key);
  if (!item) throw new UnauthorizedError("The nonce was not issued by this server or was already used", "invalid-nonce");
  try {
    // `equals` on the expiry we read: the delete only succeeds for the item we checked.
    await deps.tables.main.delete(key, { equals: { expiresAt: item.expiresAt } });
  } catch (error) {
    if (error instanceof ConditionFailedError) {
      throw new UnauthorizedError("The nonce was already used", "invalid-nonce");
    }
    throw error;
  }
  // DynamoDB TTL deletes lazily, so an expired item may still be there: check the time ourselves.
  if (typeof item.expiresAt !== "number" || item.expiresAt <= deps.clock.now()) {
    throw new UnauthorizedError("The nonce has expired; request a new one", "invalid-nonce");
  }
  const issuedAt = typeof item.issuedAt === "number" ? item.issuedAt : item.expiresAt - deps.config.nonceTtlSeconds * 1000;
  return { issuedAt };
}
