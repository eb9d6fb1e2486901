import { BrowserProvider, JsonRpcProvider, parseEther, toBeHex, Wallet, type Signer } from "ethers";
import type { ChainInfo } from "../api-client.ts";
import type { Session } from "../auth/session.ts";
import { DEV_KEY_STORAGE } from "../auth/wallet-presence.ts";

/** Gas a dev wallet tops itself up to on the local chain, and the balance below which it does. */
const DEV_GAS_TOP_UP = parseEther("1");
const DEV_GAS_MINIMUM = parseEther("0.05");

/**
 * A transaction signer for the signed-in account on the platform's chain:
 * the browser wallet (switched to the chain when it is elsewhere), or the
 * dev wallet's key on the local chain's RPC. On the local development chain
 * the dev wallet funds itself with gas (`hardhat_setBalance`, which only a
 * development chain answers); nothing of value is ever involved.
 */
export async function chainSigner(session: Session, chain: ChainInfo, storage: Storage = localStorage): Promise<Signer> {
  if (session.wallet === "browser") {
    if (!window.ethereum) throw new Error("The browser wallet is gone (window.ethereum is missing); sign in again.");
    const provider = new BrowserProvider(window.ethereum);
    const network = await provider.getNetwork();
    if (network.chainId !== BigInt(chain.chainId)) {
      await provider.send("wallet_switchEthereumChain", [{ chainId: toBeHex(chain.chainId) }]);
    }
    return new BrowserProvider(window.ethereum).getSigner(session.address);
  }
  if (!chain.rpcUrl) throw new Error("This deployment names no RPC endpoint for the dev wallet; sign in with a browser wallet to send transactions.");
  const key = storage.getItem(DEV_KEY_STORAGE);
  if (!key) throw new Error("This browser no longer holds the dev wallet's key; sign in again.");
  // No request cache: ethers' default 250 ms cache would hand two quick transactions the same nonce.
  const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, cacheTimeout: -1 });
  const wallet = new Wallet(key, provider);
  if (wallet.address.toLowerCase() !== session.address.toLowerCase()) throw new Error("The dev wallet in this browser is not the signed-in account; sign in again.");
  if (chain.local && (await provider.getBalance(wallet.address)) < DEV_GAS_MINIMUM) {
    await provider.send("hardhat_setBalance", [wallet.address, toBeHex(DEV_GAS_TOP_UP)]);
  }
  return wallet;
}
