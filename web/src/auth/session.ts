import type { ApiClient } from "../api-client.ts";
import { buildSiweMessage } from "./siwe-message.ts";
import type { MessageSigner } from "./wallets.ts";

/** A signed-in session: the API key and the account it speaks for. */
export interface Session {
  apiKey: string;
  address: string;
  wallet: MessageSigner["kind"];
}

const SESSION_STORAGE = "mf.session";
/** The local deployment's chain (Hardhat); the API may announce another with the nonce. */
export const DEFAULT_CHAIN_ID = 31337;

/**
 * Signs in with Sign-In with Ethereum: fetch a nonce, sign the EIP-4361
 * message whose domain is the API's host, trade it for an API key.
 */
export async function signInWithEthereum(
  api: ApiClient,
  signer: MessageSigner,
  origin: { host: string; origin: string },
  now: Date = new Date(),
): Promise<Session> {
  const { nonce, chainId } = await api.nonce();
  const message = buildSiweMessage({
    domain: origin.host,
    address: signer.address,
    statement: "Sign in to Model Factory to manage Datanets.",
    uri: origin.origin,
    chainId: chainId ?? DEFAULT_CHAIN_ID,
    nonce,
    issuedAt: now,
    expirationTime: new Date(now.getTime() + 10 * 60_000),
  });
  const signature = await signer.signMessage(message);
  const { apiKey, address } = await api.signIn(message, signature);
  return { apiKey, address, wallet: signer.kind };
}

/** The stored session, or undefined when absent or unreadable. */
export function loadSession(storage: Storage = localStorage): Session | undefined {
  try {
    const raw = storage.getItem(SESSION_STORAGE);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.apiKey !== "string" || typeof s.address !== "string") return undefined;
    return { apiKey: s.apiKey, address: s.address, wallet: s.wallet === "browser" ? "browser" : "dev" };
  } catch {
    return undefined;
  }
}

/** Keeps the session across reloads; `undefined` signs out. */
export function saveSession(session: Session | undefined, storage: Storage = localStorage): void {
  if (session) storage.setItem(SESSION_STORAGE, JSON.stringify(session));
  else storage.removeItem(SESSION_STORAGE);
}
