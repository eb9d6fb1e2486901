/**
 * Shared set-up for the contract tests: an in-process EDR chain with every
 * contract deployed, helpers to connect contracts to other wallets, to assert
 * custom errors, and to snapshot/revert the chain between tests.
 */
import { BaseContract, Contract, ContractFactory, type ContractTransactionResponse, type Interface, type Signer, type TransactionReceipt } from "ethers";
import { startEdr, type EdrChain } from "../adapters/chain/edr.ts";
import { artifacts, type ContractName } from "./artifacts/index.ts";
import { deployContracts, type ChainAddresses, type DeployOptions } from "./deploy.ts";

export interface Fixture {
  chain: EdrChain;
  addresses: ChainAddresses;
  /** Contract connected to a signer (the deployer, unless another is given). */
  contract(name: ContractName, signer?: Signer, address?: string): Contract;
  /** Deploys a further contract, e.g. a test token or attacker. */
  deploy(name: ContractName, signer: Signer, ...args: unknown[]): Promise<Contract>;
  snapshot(): Promise<string>;
  revert(id: string): Promise<void>;
  close(): Promise<void>;
}

const ADDRESS_OF = {
  DatanetRegistry: "datanetRegistry",
  AdapterRegistry: "adapterRegistry",
  PaymentEscrow: "paymentEscrow",
  RewardsDistributor: "rewardsDistributor",
  TestToken: "token",
} as const;

/** Starts EDR and deploys the platform with wallet 0 as the deployer. */
export async function deployFixture(options: DeployOptions = {}): Promise<Fixture> {
  const chain = await startEdr();
  const deployer = chain.wallets[0]!;
  const addresses = await deployContracts(deployer, { withdrawDelaySeconds: 3600, ...options });
  return {
    chain,
    addresses,
    contract(name, signer = deployer, address) {
      const at = address ?? (name in ADDRESS_OF ? addresses[ADDRESS_OF[name as keyof typeof ADDRESS_OF]] : undefined);
      if (!at) throw new Error(`no address for ${name}`);
      return new Contract(at, artifacts[name].abi as never, signer);
    },
    async deploy(name, signer, ...args) {
      const c = await new ContractFactory(artifacts[name].abi as never, artifacts[name].bytecode, signer).deploy(...args);
      await c.waitForDeployment();
      return new Contract(await c.getAddress(), artifacts[name].abi as never, signer);
    },
    snapshot: () => chain.provider.send("evm_snapshot", []) as Promise<string>,
    revert: async (id) => {
      await chain.provider.send("evm_revert", [id]);
    },
    close: () => chain.close(),
  };
}

/** Sends a transaction and waits for its receipt. */
export async function mined(tx: Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error("no receipt");
  return receipt;
}

/** The custom error a call reverted with, as `{ name, args }`; throws when it did not revert. */
export async function revertOf(call: Promise<unknown>, iface?: Interface | BaseContract): Promise<{ name: string; args: unknown[] }> {
  try {
    await call;
  } catch (error) {
    const e = error as { revert?: { name: string; args: unknown[] }; data?: string; info?: { error?: { data?: string } } };
    if (e.revert) return { name: e.revert.name, args: [...e.revert.args] };
    const data = e.data ?? e.info?.error?.data;
    const i = iface instanceof BaseContract ? iface.interface : iface;
    const parsed = data && i ? i.parseError(data) : null;
    if (parsed) return { name: parsed.name, args: [...parsed.args] };
    throw error;
  }
  throw new Error("expected the call to revert, but it succeeded");
}

/** Parsed events of one contract in a receipt. */
export function eventsOf(receipt: TransactionReceipt, contract: Contract, name: string): unknown[][] {
  return receipt.logs
    .filter((l) => l.address.toLowerCase() === String(contract.target).toLowerCase())
    .map((l) => contract.interface.parseLog(l))
    .filter((p) => p?.name === name)
    .map((p) => [...p!.args]);
}
