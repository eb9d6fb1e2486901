import { BrowserProvider, HDNodeWallet, Mnemonic, type Eip1193Provider } from "ethers";
import { createHardhatRuntimeEnvironment } from "hardhat/hre";

/** Hardhat's well-known development mnemonic: its accounts are funded on every EDR chain. NEVER use it elsewhere. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

export interface EdrChain {
  /** ethers provider over EDR's in-process EIP-1193 provider. */
  provider: BrowserProvider;
  /** The raw EIP-1193 provider (for a JSON-RPC bridge). */
  eip1193: Eip1193Provider;
  /** The first `accounts` development accounts, funded with 10 000 ETH each, as wallets on `provider`. */
  wallets: HDNodeWallet[];
  chainId: number;
  close(): Promise<void>;
}

/**
 * Starts Hardhat's EDR simulated chain in this process (no download, no node
 * to run) with automine on, and returns development wallets connected to it.
 */
export async function startEdr(options: { chainId?: number; accounts?: number } = {}): Promise<EdrChain> {
  const chainId = options.chainId ?? 31337;
  // Inline config: no hardhat.config file is needed, so the repo's own TS/ESM setup is untouched.
  const hre = await createHardhatRuntimeEnvironment(
    { networks: { local: { type: "edr-simulated", chainType: "l1", chainId } } },
    {},
    process.cwd(),
  );
  const connection = await hre.network.connect("local");
  const eip1193 = connection.provider as unknown as Eip1193Provider;
  // Automine answers at once; a short polling interval keeps waits for receipts short.
  const provider = new BrowserProvider(eip1193, chainId, { cacheTimeout: -1, pollingInterval: 50 });
  // One PBKDF2 for the seed, then cheap child derivations.
  const root = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), "m/44'/60'/0'/0");
  const wallets = Array.from({ length: options.accounts ?? 10 }, (_, i) => root.deriveChild(i).connect(provider));
  return {
    provider,
    eip1193,
    wallets,
    chainId,
    close: async () => {
      provider.destroy();
      await connection.close();
    },
  };
}

/** Moves the chain's clock forward by `seconds` and mines a block. */
export async function increaseTime(provider: BrowserProvider, seconds: number): Promise<void> {
  await provider.send("evm_increaseTime", [seconds]);
  await provider.send("evm_mine", []);
}
