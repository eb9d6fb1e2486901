import { Contract, type BrowserProvider, type HDNodeWallet } from "ethers";
import { artifacts } from "../../contracts/artifacts/index.ts";
import { deployContracts, writeChainConfig, type ChainAddresses, type DeployOptions } from "../../contracts/deploy.ts";
import { startEdr } from "./edr.ts";
import { serveJsonRpc, type JsonRpcServer } from "./json-rpc-server.ts";

export interface LocalChain {
  provider: BrowserProvider;
  /** The platform's signer: deployer, registrar and rewards operator (development account 0). */
  signer: HDNodeWallet;
  /** Development accounts 1..n, funded with ETH and test tokens, for demos and tests. */
  accounts: HDNodeWallet[];
  addresses: ChainAddresses;
  /** JSON-RPC URL for other processes and wallets, when `rpcPort` was given. */
  rpcUrl?: string;
  close(): Promise<void>;
}

export interface LocalChainOptions {
  /** Where to write the addresses (JSON), e.g. `.data/chain.json`. */
  configPath?: string;
  chainId?: number;
  /** Serve JSON-RPC on 127.0.0.1:<port> (0 picks a free port). */
  rpcPort?: number;
  /** Test tokens minted to each development account (base units, default 1 000 tUSD). */
  mintPerAccount?: bigint;
  deploy?: DeployOptions;
}

/**
 * Starts Hardhat's EDR chain in this process, deploys the contracts (a fresh
 * chain each start: nothing is downloaded, nothing persists), funds the
 * development accounts with test tokens, and writes the addresses to
 * `configPath`. The local runtime calls this on start.
 */
export async function startLocalChain(options: LocalChainOptions = {}): Promise<LocalChain> {
  const edr = await startEdr({ chainId: options.chainId ?? 31337 });
  const [signer, ...accounts] = edr.wallets as [HDNodeWallet, ...HDNodeWallet[]];
  let rpc: JsonRpcServer | undefined;
  try {
    const addresses = await deployContracts(signer, options.deploy);
    const token = new Contract(addresses.token, artifacts.TestToken.abi as never, signer);
    if (!options.deploy?.token) {
      const amount = options.mintPerAccount ?? 1_000_000_000n;
      for (const a of accounts) await (await token.getFunction("mint")(a.address, amount)).wait();
    }
    if (options.rpcPort !== undefined) rpc = await serveJsonRpc(edr.eip1193, options.rpcPort);
    const rpcUrl = rpc?.url;
    if (options.configPath) writeChainConfig(options.configPath, { ...addresses, ...(rpcUrl ? { rpcUrl } : {}) });
    return {
      provider: edr.provider,
      signer,
      accounts,
      addresses: { ...addresses, ...(rpcUrl ? { rpcUrl } : {}) },
      ...(rpcUrl ? { rpcUrl } : {}),
      close: async () => {
        await rpc?.close();
        await edr.close();
      },
    };
  } catch (error) {
    await rpc?.close();
    await edr.close();
    throw error;
  }
}
