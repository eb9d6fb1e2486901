import { Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { issueNonce } from "../../core/auth/nonces.ts";
import { signIn } from "../../core/auth/sign-in.ts";
import type { CoreDeps } from "../../core/deps.ts";

/** Sign-in with Ethereum as a wallet does it, for the auth, webhooks and API tests. */

/** Anything that signs like an ethers wallet. */
export type Signer = Pick<Wallet, "address" | "signMessage">;

/** Builds and signs an EIP-4361 message the way a wallet would. */
export async function signedSiwe(
  wallet: Signer,
  fields: { domain: string; chainId: number; nonce: string; issuedAt: string; uri?: string; expirationTime?: string; notBefore?: string; scheme?: string },
): Promise<{ message: string; signature: string }> {
  const message = new SiweMessage({
    domain: fields.domain,
    address: wallet.address,
    statement: "Sign in to Model Factory",
    uri: fields.uri ?? `http://${fields.domain}`,
    version: "1",
    chainId: fields.chainId,
    nonce: fields.nonce,
    ...(fields.scheme ? { scheme: fields.scheme } : {}),
    issuedAt: fields.issuedAt,
    ...(fields.expirationTime ? { expirationTime: fields.expirationTime } : {}),
    ...(fields.notBefore ? { notBefore: fields.notBefore } : {}),
  }).prepareMessage();
  return { message, signature: await wallet.signMessage(message) };
}

/** Signs a fresh random wallet in through the use cases; returns its API key and address. */
export async function signInAs(deps: CoreDeps, wallet: Signer = Wallet.createRandom()) {
  const { nonce, issuedAt } = await issueNonce(deps);
  const host = new URL(deps.config.apiOrigin).host;
  return signIn(deps, await signedSiwe(wallet, { domain: host, chainId: deps.config.chainId, nonce, issuedAt }));
}
