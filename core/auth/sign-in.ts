import { getAddress, verifyMessage } from "ethers";
import { SiweMessage } from "siwe";
import { z } from "zod";
import type { Address } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { DomainError, TransactionCanceledError, UnauthorizedError } from "../errors.ts";
import type { Item, WriteOp } from "../ports/tables.ts";
import { apiKeyItem, newApiKey, signInKeyExpiry } from "./api-keys.ts";
import { consumeNonce } from "./nonces.ts";

export const SignInInput = z
  .strictObject({
    /** The EIP-4361 message exactly as the wallet signed it. */
    message: z.string().min(1).max(4096),
    /** 0x-prefixed 65-byte EIP-191 signature of `message`. */
    signature: z.string().regex(/^0x[0-9a-fA-F]+$/, "must be 0x-prefixed hex"),
  })
  .meta({ id: "SignInInput" });
export type SignInInput = z.infer<typeof SignInInput>;

export const SignInResult = z
  .object({ apiKey: z.string(), address: z.string() })
  .meta({ id: "SignInResult" });
export type SignInResult = z.infer<typeof SignInResult>;

/** How far a wallet's clock may be off from ours (Issued At checks). */
export const CLOCK_SKEW_MS = 60_000;

/**
 * Signs in with Ethereum (EIP-4361) and returns a new API key.
 * Checks, in order: the message parses; its domain is the API's host and its
 * scheme (when given) the API's; its URI is the API's origin; its Issued At
 * is not in the future; its chain id is the configured one; it is within its
 * validity window; the signature recovers to its address; and only then
 * consumes its nonce (so a forged request cannot burn someone's nonce) and
 * checks that Issued At is not older than that nonce. Each allows
 * CLOCK_SKEW_MS of clock difference.
 * Creates the account on first sign-in.
 */
export async function signIn(deps: CoreDeps, input: SignInInput): Promise<SignInResult> {
  const { message, signature } = input;
  const siwe = parse(message);
  const origin = new URL(deps.config.apiOrigin);
  const now = deps.clock.now();

  if (siwe.domain !== origin.host) {
    throw new UnauthorizedError(`The message is for domain "${siwe.domain}", not "${origin.host}"`, "siwe-domain-mismatch");
  }
  if (siwe.scheme && `${siwe.scheme}:` !== origin.protocol) {
    throw new UnauthorizedError(`The message is for scheme "${siwe.scheme}", not "${origin.protocol.slice(0, -1)}"`, "siwe-domain-mismatch");
  }
  // The URI is the resource the user signs in to: this API's origin (a message for another site is refused).
  if (uriOrigin(siwe.uri) !== origin.origin) {
    throw new UnauthorizedError(`The message's URI "${siwe.uri}" is not this API's origin "${origin.origin}"`, "siwe-uri-mismatch");
  }
  if (siwe.issuedAt && Date.parse(siwe.issuedAt) > now + CLOCK_SKEW_MS) {
    throw new UnauthorizedError("The message's Issued At is in the future", "siwe-issued-at-invalid");
  }
  if (siwe.chainId !== deps.config.chainId) {
    throw new UnauthorizedError(`The message names chain ${siwe.chainId}, not ${deps.config.chainId}`, "siwe-chain-mismatch");
  }
  if (siwe.expirationTime && Date.parse(siwe.expirationTime) <= now) {
    throw new UnauthorizedError("The message has expired", "siwe-expired");
  }
  if (siwe.notBefore && Date.parse(siwe.notBefore) > now) {
    throw new UnauthorizedError("The message is not valid yet", "siwe-not-yet-valid");
  }

  const address = getAddress(siwe.address);
  // Recover from the message as received, not a re-serialisation of it.
  let signer: string | undefined;
  try {
    signer = verifyMessage(message, signature);
  } catch {
    signer = undefined;
  }
  if (signer !== address) throw new UnauthorizedError("The signature does not match the message's address", "invalid-signature");

  const nonce = await consumeNonce(deps, siwe.nonce);
  // Issued At is checked against the nonce it carries: a message cannot predate the nonce it names.
  const issuedAt = Date.parse(siwe.issuedAt ?? "");
  if (!Number.isFinite(issuedAt) || issuedAt < nonce.issuedAt - CLOCK_SKEW_MS) {
    throw new UnauthorizedError("The message's Issued At is earlier than its nonce", "siwe-issued-at-invalid");
  }

  const apiKey = newApiKey();
  await storeKey(deps, apiKey, address, now);
  return { apiKey, address };
}

/**
 * Parses an EIP-4361 message; a malformed one is a 400 `invalid-siwe-message`.
 * The siwe parser's error ends with a dump of its internal state (as JSON):
 * only its first line, when it is the plain `line N: invalid <field>` form,
 * reaches the client.
 */
function parse(message: string): SiweMessage {
  try {
    return new SiweMessage(message);
  } catch (error) {
    const first = (error instanceof Error ? error.message : "").split("\n", 1)[0]!;
    const reason = /^line \d{1,4}: [a-z][a-z -]{0,60}$/i.test(first) ? first : "it does not have the EIP-4361 layout";
    throw new DomainError("invalid-siwe-message", 400, `Not a valid EIP-4361 message: ${reason}`);
  }
}

/** Writes the key's hash, and the account item when this is the first sign-in. */
async function storeKey(deps: CoreDeps, apiKey: string, address: Address, now: number): Promise<void> {
  const keyWrite: WriteOp = { put: apiKeyItem(apiKey, address, now, { name: "Sign-in", expiresAt: signInKeyExpiry(now) }), condition: { notExists: true } };
  const account: Item = { pk: `ACCOUNT#${address}`, sk: "ACCOUNT", address, createdAt: new Date(now).toISOString() };
  const hasAccount = (await deps.tables.main.get(account)) !== undefined;
  if (hasAccount) {
    await deps.tables.main.transact([keyWrite]);
    return;
  }
  try {
    await deps.tables.main.transact([keyWrite, { put: account, condition: { notExists: true } }]);
  } catch (error) {
    // A concurrent first sign-in created the account in between: keep theirs.
    if (!(error instanceof TransactionCanceledError) || !error.failedIndexes.every((i) => i === 1)) throw error;
    await deps.tables.main.transact([keyWrite]);
  }
}

/** The origin of a SIWE URI, or undefined when it is not an absolute URL. */
function uriOrigin(uri: string): string | undefined {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
}
