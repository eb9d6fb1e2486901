import { Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { type CfnFunction, FilterCriteria, FilterRule, StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource, SqsDlq } from "aws-cdk-lib/aws-lambda-event-sources";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { ChainAddresses } from "../../contracts/deploy.ts";
import { grantTableAccess } from "./tables.ts";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import { secureQueue } from "./secure-queue.ts";

/** Sends, then waits up to 90 s for a receipt (functions/chain-sync.ts), per record. */
export const CHAIN_SYNC_TIMEOUT = Duration.minutes(5);

export interface ChainSyncProps {
  /** The main table; it must have a stream (NEW_AND_OLD_IMAGES). */
  mainTable: Table;
  environment: FunctionEnvironment;
  /** Where the contracts are on the target chain: what `contracts/deploy.ts` wrote. */
  addresses: ChainAddresses;
  /** The chain's JSON-RPC URL; leave out when the signer secret carries `rpcUrl` (a URL with an API key in it). */
  rpcUrl?: string;
  /**
   * The signer's key: a secret holding a 0x private key or JSON `{privateKey, rpcUrl}`.
   * When absent one is created (with a random placeholder to replace before use).
   */
  signerSecret?: ISecret;
  removalPolicy: RemovalPolicy;
}

/**
 * Chain sync: the main table's stream → chain-sync function, which publishes
 * each newly published Datanet version on chain and records its transaction
 * (see core/chain). One function instance at a time, because one key signs
 * and its nonces must go in order; batches it cannot finish after its
 * retries go to `failures`.
 */
export class ChainSync extends Construct {
  readonly function: AppFunction;
  readonly signerSecret: ISecret;
  /** Stream batches the function could not process after its retries. */
  readonly failures: Queue;

  constructor(scope: Construct, id: string, props: ChainSyncProps) {
    super(scope, id);
    if (props.addresses.chainId !== Number(props.environment.CHAIN_ID)) {
      throw new Error(`addresses are for chain ${props.addresses.chainId}, the stack's CHAIN_ID is ${props.environment.CHAIN_ID}`);
    }
    this.signerSecret =
      props.signerSecret ??
      new Secret(this, "SignerKey", {
        description: "Chain-sync signer: replace with a 0x private key, or JSON {\"privateKey\": \"0x...\", \"rpcUrl\": \"https://...\"}",
        removalPolicy: props.removalPolicy,
      });
    Validations.of(this.signerSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason: "An EVM key cannot be rotated by a Lambda: a new key is a new address that needs its registry roles granted on chain first.",
    });

    this.failures = secureQueue(this, "Failures");
    Validations.of(this.failures).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself the on-failure destination of the chain-sync stream mapping (records of batches given up on); an alarm on its depth tells the operator (Monitoring).",
    });

    this.function = new AppFunction(this, "Function", {
      // The handler lives with the chain adapters; AppFunction resolves entries from functions/.
      entry: "chain-sync",
      description: "Publishes Datanet versions on chain from the main table's stream and records their transactions",
      environment: {
        ...props.environment,
        CHAIN_ADDRESSES: JSON.stringify(props.addresses),
        CHAIN_SIGNER_SECRET_ID: this.signerSecret.secretArn,
        ...(props.rpcUrl ? { CHAIN_RPC_URL: props.rpcUrl } : {}),
      } as FunctionEnvironment,
      timeout: CHAIN_SYNC_TIMEOUT,
      removalPolicy: props.removalPolicy,
    });
    // One signer, one sender: concurrent instances would race for the same nonces.
    (this.function.node.defaultChild as CfnFunction).reservedConcurrentExecutions = 1;

    this.function.addEventSource(
      new DynamoEventSource(props.mainTable, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 10,
        bisectBatchOnError: true,
        // A version waits for its predecessor on chain; give that time before giving up.
        retryAttempts: 20,
        maxRecordAge: Duration.days(1),
        reportBatchItemFailures: true,
        parallelizationFactor: 1,
        onFailure: new SqsDlq(this.failures),
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual("INSERT"),
            dynamodb: {
              Keys: { pk: { S: FilterRule.beginsWith("EVENT#") } },
              // What core/chain/route-change.ts acts on: versions to publish, adapters to register.
              NewImage: { type: { S: FilterRule.or("datanet.version.published", "adapter.created") } },
            },
          }),
          // An adapter's price, written (and rewritten) by core/payments: chain sync records it with setPrice.
          FilterCriteria.filter({
            eventName: FilterRule.or("INSERT", "MODIFY"),
            dynamodb: {
              Keys: { pk: { S: FilterRule.beginsWith("ADAPTER#") }, sk: { S: FilterRule.isEqual("PRICE") } },
              NewImage: { kind: { S: FilterRule.isEqual("adapter-price") } },
            },
          }),
        ],
      }),
    );
    // core/chain reads Datanets, versions and adapters, and writes its CHAIN# records with their events (puts, in transactions).
    grantTableAccess(props.mainTable, this.function, { calls: ["get", "put"], pkPrefixes: ["CHAIN#", "DATANET#", "ADAPTER#", "EVENT#"] });
    this.signerSecret.grantRead(this.function);
  }
}
