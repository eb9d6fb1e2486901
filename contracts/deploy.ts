/**
 * Deploys the platform's contracts to any EVM chain, by RPC URL and key:
 *
 *   RPC_URL=https://... DEPLOYER_KEY=0x... npx node contracts/deploy.ts \
 *     --out .data/chain.json [--token 0xUSDC] [--treasury 0x...] [--withdraw-delay 86400] [--claim-window 7776000]
 *
 * Without `--token` it also deploys TestToken (anyone can mint: local and test chains only).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Contract, ContractFactory, JsonRpcProvider, NonceManager, Wallet, getAddress, id, type Signer } from "ethers";
import { artifacts, type ContractName } from "./artifacts/index.ts";

/** Where the contracts live on one chain; the file the deploy writes and the runtime reads. */
export interface ChainAddresses {
  chainId: number;
  datanetRegistry: string;
  adapterRegistry: string;
  paymentEscrow: string;
  rewardsDistributor: string;
  /** The ERC-20 used for payments. */
  token: string;
  /** Admin of every contract; also holds the registrar and operator roles. */
  deployer: string;
  /** Block of the first deployment transaction, where log scans can start. */
  fromBlock: number;
  /** JSON-RPC URL of the chain, when known (the local chain's bridge). */
  rpcUrl?: string;
}

export interface DeployOptions {
  /** An existing ERC-20 to pay in; when absent a TestToken is deployed. */
  token?: string;
  /** Receiver of the platform's fee share (default: the deployer). */
  treasury?: string;
  /** Seconds between a payer's withdrawal request and the withdrawal (default one day). */
  withdrawDelaySeconds?: number;
  /** Seconds an epoch's rewards stay claim-only before the operator may recover what is unclaimed (default 90 days). */
  claimWindowSeconds?: number;
  /** Fee split in basis points (default 70% contributors, 20% adapter owners, 10% platform). */
  shares?: { contributorsBps: number; ownersBps: number; platformBps: number };
  /** Further accounts given the registrar and operator roles (e.g. a separate chain-sync signer). */
  operators?: string[];
}

export const REGISTRAR_ROLE = id("REGISTRAR_ROLE");
export const OPERATOR_ROLE = id("OPERATOR_ROLE");
export const DEFAULT_SHARES = { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 } as const;
export const DEFAULT_CLAIM_WINDOW_SECONDS = 90 * 86_400;

/** Deploys TestToken (unless given a token), both registries, the escrow and the distributor, and grants roles. */
export async function deployContracts(account: Signer, options: DeployOptions = {}): Promise<ChainAddresses> {
  // Count nonces locally: a provider may answer a repeated nonce query from its cache.
  const signer = account instanceof NonceManager ? account : new NonceManager(account);
  const provider = signer.provider;
  if (!provider) throw new Error("deployContracts: the signer must be connected to a provider");
  const deployer = await signer.getAddress();
  const { chainId } = await provider.getNetwork();
  const fromBlock = await provider.getBlockNumber();

  const token = options.token ? getAddress(options.token) : await deploy(signer, "TestToken");
  const datanetRegistry = await deploy(signer, "DatanetRegistry", deployer);
  const adapterRegistry = await deploy(signer, "AdapterRegistry", deployer, datanetRegistry);
  const paymentEscrow = await deploy(signer, "PaymentEscrow", token, options.withdrawDelaySeconds ?? 86_400);
  const rewardsDistributor = await deploy(
    signer,
    "RewardsDistributor",
    deployer,
    token,
    options.treasury ?? deployer,
    options.shares ?? DEFAULT_SHARES,
    options.claimWindowSeconds ?? DEFAULT_CLAIM_WINDOW_SECONDS,
  );

  for (const account of [deployer, ...(options.operators ?? [])]) {
    await grant(signer, "DatanetRegistry", datanetRegistry, REGISTRAR_ROLE, account);
    await grant(signer, "AdapterRegistry", adapterRegistry, REGISTRAR_ROLE, account);
    await grant(signer, "RewardsDistributor", rewardsDistributor, OPERATOR_ROLE, account);
  }
  return { chainId: Number(chainId), datanetRegistry, adapterRegistry, paymentEscrow, rewardsDistributor, token, deployer, fromBlock };
}

/** Writes the addresses as JSON (creating the folder). */
export function writeChainConfig(path: string, addresses: ChainAddresses): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(addresses, null, 2) + "\n");
}

async function deploy(signer: Signer, name: ContractName, ...args: unknown[]): Promise<string> {
  const { abi, bytecode } = artifacts[name];
  const contract = await new ContractFactory(abi as never, bytecode, signer).deploy(...args);
  await contract.waitForDeployment();
  return getAddress(await contract.getAddress());
}

async function grant(signer: Signer, name: ContractName, address: string, role: string, account: string) {
  const c = new Contract(address, artifacts[name].abi as never, signer);
  if (await c.getFunction("hasRole")(role, account)) return;
  const tx = await c.getFunction("grantRole")(role, account);
  await tx.wait();
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rpcUrl = process.env.RPC_URL;
  const key = process.env.DEPLOYER_KEY;
  if (!rpcUrl || !key) {
    console.error("Set RPC_URL and DEPLOYER_KEY (0x-prefixed private key).");
    process.exit(2);
  }
  const out = arg("out") ?? ".data/chain.json";
  const signer = new Wallet(key, new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1 }));
  const delay = arg("withdraw-delay");
  const claimWindow = arg("claim-window");
  const addresses = await deployContracts(signer, {
    token: arg("token"),
    treasury: arg("treasury"),
    withdrawDelaySeconds: delay ? Number(delay) : undefined,
    claimWindowSeconds: claimWindow ? Number(claimWindow) : undefined,
    operators: arg("operators")?.split(","),
  });
  writeChainConfig(out, addresses);
  console.log(`deployed to chain ${addresses.chainId}; addresses in ${out}`);
  console.log(JSON.stringify(addresses, null, 2));
  signer.provider?.destroy();
}
