import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { JsonRpcProvider } from "ethers";
import { z } from "zod";
import { chainAddressesFrom, rpcUrlFrom } from "./chain-env.ts";
import { DynamoTableStore, documentClientOptions } from "../adapters/aws/dynamo-table-store.ts";
import { EthersChain } from "../adapters/chain/ethers-chain.ts";
import { loadChainSecret, walletFromSecret } from "../adapters/chain/secret-signer.ts";
import type { ChainSyncDeps } from "../core/chain/sync-record.ts";
import { defaultConfig } from "../core/config.ts";
import { systemClock } from "../core/ports/clock.ts";
import { createChainSyncHandler } from "./handlers/chain-sync.ts";
import { tracer } from "./logger.ts";

/** The chain-sync function's environment (set by infra/lib/chain-sync.ts); the key itself is in Secrets Manager. */
export const ChainSyncEnvSchema = z.object({
  TABLE_MAIN: z.string().min(1),
  API_ORIGIN: z.url(),
  CHAIN_ID: z.coerce.number().int().positive(),
  /** JSON of ChainAddresses (what contracts/deploy.ts wrote). */
  CHAIN_ADDRESSES: z.string().min(2),
  CHAIN_SIGNER_SECRET_ID: z.string().min(1),
  /** Optional when the secret carries the RPC URL. */
  CHAIN_RPC_URL: z.url().optional(),
});

/** Chain-sync deps on DynamoDB and an RPC, with the key from Secrets Manager; built once per cold start. */
export async function awsChainSyncDeps(env: Record<string, string | undefined> = process.env): Promise<ChainSyncDeps> {
  const vars = ChainSyncEnvSchema.parse(env);
  const addresses = chainAddressesFrom(vars.CHAIN_ADDRESSES, vars.CHAIN_ID);
  const secret = await loadChainSecret(tracer.captureAWSv3Client(new SecretsManagerClient({})), vars.CHAIN_SIGNER_SECRET_ID);
  const rpcUrl = rpcUrlFrom(secret, vars.CHAIN_RPC_URL);
  const provider = new JsonRpcProvider(rpcUrl, vars.CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
  const doc = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), documentClientOptions);
  const main = new DynamoTableStore(doc, vars.TABLE_MAIN);
  return {
    // Chain sync touches only the main table.
    tables: { main, contributions: main },
    clock: systemClock,
    config: { ...defaultConfig, apiOrigin: vars.API_ORIGIN, chainId: vars.CHAIN_ID },
    // A receipt wait shorter than the function timeout, so a slow chain is a retry, not a killed invocation.
    chain: new EthersChain(walletFromSecret(secret, provider), addresses, { receiptTimeoutMs: 90_000 }),
  };
}

let cached: Promise<ChainSyncDeps> | undefined;

/** Lambda entry point. */
export const handler = createChainSyncHandler(() => (cached ??= awsChainSyncDeps().catch((e: unknown) => {
  cached = undefined; // a failed cold start (e.g. the secret unreadable) is retried on the next invocation
  throw e;
})));
