/**
 * What the sign-in page shows before anyone clicks: whether a browser wallet
 * is injected and whether this browser holds a dev wallet. Kept free of
 * ethers, so the sign-in page loads without it (wallets.ts brings ethers
 * only when a wallet is used).
 */

import type { Eip1193Provider } from "ethers";

export const DEV_KEY_STORAGE = "mf.devWallet.privateKey";
/** The dev wallet's address, stored beside its key so showing it needs no key derivation. */
export const DEV_ADDRESS_STORAGE = "mf.devWallet.address";

declare global {
  interface Window {
    ethereum?: Eip1193Provider;
  }
}

/** True when an EIP-1193 wallet (MetaMask, Rabby, …) injected `window.ethereum`. */
export function hasBrowserWallet(): boolean {
  return typeof window !== "undefined" && typeof window.ethereum?.request === "function";
}

/**
 * The dev wallet in this browser, without creating one: undefined when there
 * is none; `address` is undefined for a key stored before addresses were.
 */
export function existingDevWallet(storage: Storage = localStorage): { address: string | undefined } | undefined {
  if (!storage.getItem(DEV_KEY_STORAGE)) return undefined;
  const address = storage.getItem(DEV_ADDRESS_STORAGE);
  return { address: address && /^0x[0-9a-fA-F]{40}$/.test(address) ? address : undefined };
}

/** Forgets the dev wallet's key; the next sign-in generates a new account. */
export function resetDevWallet(storage: Storage = localStorage): void {
  storage.removeItem(DEV_KEY_STORAGE);
  storage.removeItem(DEV_ADDRESS_STORAGE);
}
