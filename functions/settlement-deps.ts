import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { JsonRpcProvider } from "ethers";
import { z } from "zod";
import { chainAddressesFrom, rpcUrlFrom } from "./chain-env.ts";
import { DynamoTableStore, documentClientOptions } from "../adapters/aws/dynamo-table-store.ts";
import { S3BlobStore } from "../adapters/aws/s3-blob-store.ts";
import { EthersEscrowEvents } from "../adapters/chain/escrow-events.ts";
import { loadChainSecret, walletFromSecret } from "../adapters/chain/secret-signer.ts";
import { EthersSettlementChain } from "../adapters/chain/settlement-client.ts";
import type { ChainAddresses } from "../contracts/deploy.ts";
import { systemClock } from "../core/ports/clock.ts";
import type { EscrowEventSource } from "../core/ports/escrow-events.ts";
import type { TableStore } from "../core/ports/tables.ts";
import type { SettlementDeps } from "../core/settlement/settle-period.ts";
import type { RecordUsageDeps } from "./handlers/record-usage.ts";
import { tracer } from "./logger.ts";

/**
 * The settlement functions' environment (set by infra/lib/settlement.ts):
 * names and numbers only; the settlement key is in Secrets Manager.
 */
export const SettlementEnvSchema = z.object({
  TABLE_USAGE: z.string().min(1),
  TABLE_MAIN: z.string().min(1).optional(),
  BUCKET: z.string().min(1).optional(),
  CHAIN_ID: z.coerce.number().int().positive(),
  /** JSON of ChainAddresses (what contracts/deploy.ts wrote). */
  CHAIN_ADDRESSES: z.string().min(2).optional(),
  /** The settlement key (settle-epoch), or where the RPC URL is when CHAIN_RPC_URL is not set (chain-events). */
  CHAIN_SIGNER_SECRET_ID: z.string().min(1).optional(),
  CHAIN_RPC_URL: z.url().optional(),
  SETTLEMENT_EPOCH_SECONDS: z.coerce.number().int().positive(),
  SETTLEMENT_GRACE_SECONDS: z.coerce.number().int().nonnegative(),
  /** The distributor's shares (JSON), for record-usage's pending estimates; settlement reads the chain's. */
  SETTLEMENT_SHARES: z.string().min(2).optional(),
});
export type SettlementEnv = z.infer<typeof SettlementEnvSchema>;

const SharesSchema = z.object({ contributorsBps: z.number().int().nonnegative(), ownersBps: z.number().int().nonnegative(), platformBps: z.number().int().nonnegative() }).refine((s) => s.contributorsBps + s.ownersBps + s.platformBps === 10_000, "shares must add up to 10 000 bps");

/** Reads the environment, naming every missing or malformed variable, and the variables `needs` lists. */
export function readSettlementEnv<K extends keyof SettlementEnv>(env: Record<string, string | undefined>, needs: K[]): SettlementEnv & Required<Pick<SettlementEnv, K>> {
  const result = SettlementEnvSchema.safeParse(env);
  const problems = result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  for (const k of needs) if (result.success && result.data[k] === undefined) problems.push(`${k}: required by this function`);
  if (problems.length) throw new Error(`Settlement environment is incomplete: ${problems.join("; ")}`);
  return result.data as SettlementEnv & Required<Pick<SettlementEnv, K>>;
}

function addressesOf(vars: SettlementEnv & { CHAIN_ADDRESSES: string }): ChainAddresses {
  return chainAddressesFrom(vars.CHAIN_ADDRESSES, vars.CHAIN_ID);
}

function documents() {
  return DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), documentClientOptions);
}

/** record-usage: the usage table only (no chain: the estimate's shares come from the environment). */
export function awsRecordUsageDeps(env: Record<string, string | undefined> = process.env): RecordUsageDeps {
  const vars = readSettlementEnv(env, ["SETTLEMENT_SHARES"]);
  // No asynchronous attribution method here: AWS serves with vLLM, so a call's span attribution is final.
  return { usage: new DynamoTableStore(documents(), vars.TABLE_USAGE), clock: systemClock, epochSeconds: vars.SETTLEMENT_EPOCH_SECONDS, shares: SharesSchema.parse(JSON.parse(vars.SETTLEMENT_SHARES)) };
}

async function rpcUrlOf(vars: SettlementEnv, secretId: string | undefined): Promise<{ rpcUrl: string; secret?: Awaited<ReturnType<typeof loadChainSecret>> }> {
  const secret = secretId ? await loadChainSecret(tracer.captureAWSv3Client(new SecretsManagerClient({})), secretId) : undefined;
  return { rpcUrl: rpcUrlFrom(secret, vars.CHAIN_RPC_URL), ...(secret ? { secret } : {}) };
}

/** settle-epoch: usage and main tables, the bucket (epoch trees), and the chain with the settlement key. */
export async function awsSettleEpochDeps(env: Record<string, string | undefined> = process.env): Promise<SettlementDeps> {
  const vars = readSettlementEnv(env, ["TABLE_MAIN", "BUCKET", "CHAIN_ADDRESSES", "CHAIN_SIGNER_SECRET_ID"]);
  const addresses = addressesOf(vars);
  const { rpcUrl, secret } = await rpcUrlOf(vars, vars.CHAIN_SIGNER_SECRET_ID);
  const provider = new JsonRpcProvider(rpcUrl, vars.CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
  const doc = documents();
  return {
    usage: new DynamoTableStore(doc, vars.TABLE_USAGE),
    main: new DynamoTableStore(doc, vars.TABLE_MAIN),
    blobs: new S3BlobStore(tracer.captureAWSv3Client(new S3Client({})), vars.BUCKET),
    clock: systemClock,
    // A receipt wait well inside the function's 15 minutes: a slow chain is resumed by the next run.
    chain: new EthersSettlementChain(walletFromSecret(secret!, provider), addresses, { receiptTimeoutMs: 120_000 }),
    epochSeconds: vars.SETTLEMENT_EPOCH_SECONDS,
    graceSeconds: vars.SETTLEMENT_GRACE_SECONDS,
  };
}

/** chain-events: the usage table and a read-only view of PaymentEscrow's logs (no key: it sends nothing). */
export async function awsChainEventsDeps(env: Record<string, string | undefined> = process.env): Promise<{ usage: TableStore; events: EscrowEventSource }> {
  const vars = readSettlementEnv(env, ["CHAIN_ADDRESSES"]);
  const addresses = addressesOf(vars);
  const { rpcUrl } = await rpcUrlOf(vars, vars.CHAIN_RPC_URL ? undefined : vars.CHAIN_SIGNER_SECRET_ID);
  const provider = new JsonRpcProvider(rpcUrl, vars.CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
  return { usage: new DynamoTableStore(documents(), vars.TABLE_USAGE), events: new EthersEscrowEvents(provider, addresses.paymentEscrow, addresses.fromBlock) };
}

/** A cold start's deps, built once; a failed build (e.g. the secret unreadable) is retried by the next invocation. */
export function once<T>(build: () => Promise<T>): () => Promise<T> {
  let cached: Promise<T> | undefined;
  return () =>
    (cached ??= build().catch((e: unknown) => {
      cached = undefined;
      throw e;
    }));
}
