import { BrowserProvider, Wallet, type Eip1193Provider } from "ethers";

/** Anything that can sign an EIP-191 personal message for one address. */
export interface MessageSigner {
  kind: "browser" | "dev";
  address: string;
  signMessage(message: string): Promise<string>;
}

const DEV_KEY_STORAGE = "mf.devWallet.privateKey";

declare global {
  interface Window {
    ethereum?: Eip1193Provider;
  }
}

/** True when an EIP-1193 wallet (MetaMask, Rabby, …) injected `window.ethereum`. */
export function hasBrowserWallet(): boolean {
  return typeof window !== "undefined" && typeof window.ethereum?.request === "function";
}

/** Asks the browser wallet for an account and returns its signer. */
export async function connectBrowserWallet(): Promise<MessageSigner> {
  if (!window.ethereum) throw new Error("No browser wallet found (window.ethereum is missing).");
  const provider = new BrowserProvider(window.ethereum);
  await provider.send("eth_requestAccounts", []);
  const signer = await provider.getSigner();
  return { kind: "browser", address: await signer.getAddress(), signMessage: (m) => signer.signMessage(m) };
}

/**
 * The local development wallet: a random key generated in this browser and
 * kept in localStorage, unencrypted. A convenience for the local deployment
 * only; it must never hold anything of value.
 */
export function devWallet(storage: Storage = localStorage): MessageSigner {
  let key = storage.getItem(DEV_KEY_STORAGE);
  let wallet: Wallet;
  try {
    wallet = key ? new Wallet(key) : createAndStore(storage);
  } catch {
    // A corrupted stored key is replaced rather than locking the person out.
    wallet = createAndStore(storage);
  }
  return { kind: "dev", address: wallet.address, signMessage: (m) => wallet.signMessage(m) };

  function createAndStore(s: Storage): Wallet {
    const fresh = Wallet.createRandom();
    key = fresh.privateKey;
    s.setItem(DEV_KEY_STORAGE, key);
    return new Wallet(key);
  }
}

/** The dev wallet's address if one exists in this browser, without creating one. */
export function existingDevWalletAddress(storage: Storage = localStorage): string | undefined {
  const key = storage.getItem(DEV_KEY_STORAGE);
  if (!key) return undefined;
  try {
    return new Wallet(key).address;
  } catch {
    return undefined;
  }
}

/** Forgets the dev wallet's key; the next sign-in generates a new account. */
export function resetDevWallet(storage: Storage = localStorage): void {
  storage.removeItem(DEV_KEY_STORAGE);
}
