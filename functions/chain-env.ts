import { z } from "zod";
import type { ChainAddresses } from "../contracts/deploy.ts";

/** CHAIN_ADDRESSES as contracts/deploy.ts writes them. */
const ChainAddressesSchema = z.object({
  chainId: z.number().int().positive(),
  datanetRegistry: z.string(),
  adapterRegistry: z.string(),
  paymentEscrow: z.string(),
  rewardsDistributor: z.string(),
  token: z.string(),
  deployer: z.string(),
  fromBlock: z.number().int().nonnegative(),
});

/** The functions' CHAIN_ADDRESSES (JSON), checked against the chain the function is configured for. */
export function chainAddressesFrom(json: string, chainId: number): ChainAddresses {
  const addresses = ChainAddressesSchema.parse(JSON.parse(json));
  if (addresses.chainId !== chainId) throw new Error(`CHAIN_ADDRESSES are for chain ${addresses.chainId}, not ${chainId}`);
  return addresses;
}

/** The RPC URL: the signer secret's when it carries one, else CHAIN_RPC_URL. */
export function rpcUrlFrom(secret: { rpcUrl?: string } | undefined, envUrl: string | undefined): string {
  const rpcUrl = secret?.rpcUrl ?? envUrl;
  if (!rpcUrl) throw new Error("no RPC URL: set CHAIN_RPC_URL or put rpcUrl in the signer secret");
  return rpcUrl;
}
