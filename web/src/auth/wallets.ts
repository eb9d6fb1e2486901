import { BrowserProvider, Wallet } from "ethers";
import { DEV_ADDRESS_STORAGE, DEV_KEY_STORAGE } from "./wallet-presence.ts";

/** Anything that can sign an EIP-191 personal message for one address. */
export interface MessageSigner {
  kind: "browser" | "dev";
  address: string;
  signMessage(message: string): Promise<string>;
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
  storage.setItem(DEV_ADDRESS_STORAGE, wallet.address);
  return { kind: "dev", address: wallet.address, signMessage: (m) => wallet.signMessage(m) };

  function createAndStore(s: Storage): Wallet {
    const fresh = Wallet.createRandom();
    key = fresh.privateKey;
    s.setItem(DEV_KEY_STORAGE, key);
    return new Wallet(key);
  }
}
