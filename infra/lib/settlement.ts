import { type CfnResource, Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { EventField, Rule, RuleTargetInput, Schedule } from "aws-cdk-lib/aws-events";
import { REDEEM_CLOSING_TASK } from "../../functions/handlers/settlement-tasks.ts";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { type CfnFunction, FilterCriteria, FilterRule, StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource, SqsDlq } from "aws-cdk-lib/aws-lambda-event-sources";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { DEFAULT_SHARES, type ChainAddresses } from "../../contracts/deploy.ts";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import { secureQueue } from "./secure-queue.ts";
import { GSI1, grantTableAccess } from "./tables.ts";

/** One settlement run: redeem (a receipt wait of up to 2 min per transaction, a few transactions) and publish. */
export const SETTLE_EPOCH_TIMEOUT = Duration.minutes(15);
/** Where settle-epoch stores each period's rewards tree (core/settlement/keys.ts treeBlobKey). */
export const SETTLEMENTS_PREFIX = "settlements/";
/** The escrow mirror's schedule (a voucher on a channel opened a minute ago is accepted from then on). */
export const CHAIN_EVENTS_RATE = Duration.minutes(1);

export interface SettlementProps {
  /** The main table: settlement's domain events (usage.settled, epoch.published, rewards.available) go through its stream. */
  mainTable: Table;
  /** The data bucket: each epoch's tree is stored under `settlements/`. */
  bucket: Bucket;
  environment: FunctionEnvironment;
  addresses: ChainAddresses;
  /** The chain's JSON-RPC URL; leave out when the settlement secret carries `rpcUrl`. */
  rpcUrl?: string;
  /**
   * The settlement key: the escrow's service (it redeems vouchers) with the distributor's
   * operator role (it publishes epochs). Not chain sync's key: two senders of one key would race
   * for its nonces. When absent one is created (with a random placeholder to replace before use).
   */
  signerSecret?: ISecret;
  /** Settlement period in seconds, a whole number of minutes (default 3600: hourly). */
  epochSeconds?: number;
  /** Wait after a period ends before it is settled, for usage records still in flight (default 120 s). */
  graceSeconds?: number;
  /** The distributor's shares, for the pending estimates record-usage writes (default contracts/deploy.ts's). */
  shares?: { contributorsBps: number; ownersBps: number; platformBps: number };
  removalPolicy: RemovalPolicy;
}

/**
 * Pay-per-call settlement (core/settlement), the same handler factories the
 * local runtime runs:
 *   - the usage table (usage records, mirrored channels, the charge ledger,
 *     settlement state), with a stream, as the local runtime keeps it;
 *   - record-usage on that stream: each new usage record's final
 *     attribution, then the call joins its settlement period;
 *   - settle-epoch on a schedule (every period): redeem, split, publish;
 *   - chain-events on a schedule (every minute): PaymentEscrow's channel
 *     events mirrored into the usage table, so no call reads the chain.
 * Stream batches and scheduled runs given up on land in failure queues.
 */
export class Settlement extends Construct {
  readonly usageTable: Table;
  readonly recordUsage: AppFunction;
  readonly settleEpoch: AppFunction;
  readonly chainEvents: AppFunction;
  readonly signerSecret: ISecret;
  readonly settleRule: Rule;
  /** Every minute, into settle-epoch: early redemption of closing channels. */
  readonly redeemClosingRule: Rule;
  readonly chainEventsRule: Rule;
  /** record-usage stream batches given up on after their retries. */
  readonly recordUsageFailures: Queue;
  /** Scheduled settle-epoch and chain-events runs that failed after EventBridge's retries. */
  readonly scheduleFailures: Queue;
  readonly epochSeconds: number;

  constructor(scope: Construct, id: string, props: SettlementProps) {
    super(scope, id);
    const epochSeconds = props.epochSeconds ?? 3600;
    const graceSeconds = props.graceSeconds ?? 120;
    if (!Number.isInteger(epochSeconds) || epochSeconds < 60 || epochSeconds % 60 !== 0) throw new Error(`epochSeconds must be a whole number of minutes (≥ 60), got ${epochSeconds}`);
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds >= epochSeconds) throw new Error(`graceSeconds must be an integer in [0, epochSeconds), got ${graceSeconds}`);
    if (props.addresses.chainId !== Number(props.environment.CHAIN_ID)) {
      throw new Error(`addresses are for chain ${props.addresses.chainId}, the stack's CHAIN_ID is ${props.environment.CHAIN_ID}`);
    }
    const shares = props.shares ?? DEFAULT_SHARES;
    if (shares.contributorsBps + shares.ownersBps + shares.platformBps !== 10_000) throw new Error("shares must add up to 10 000 bps");
    this.epochSeconds = epochSeconds;

    // The same key schema, index and TTL as the other tables (DynamoTableStore), NEW_AND_OLD_IMAGES like the local outbox.
    this.usageTable = new Table(this, "Usage", {
      partitionKey: { name: "pk", type: AttributeType.STRING },
      sortKey: { name: "sk", type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // An asynchronous attribution's input (the call's token ids) expires after a day if never used.
      timeToLiveAttribute: "ttl",
      stream: StreamViewType.NEW_AND_OLD_IMAGES,
      removalPolicy: props.removalPolicy,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
    });
    this.usageTable.addGlobalSecondaryIndex({
      indexName: GSI1,
      partitionKey: { name: "gsi1pk", type: AttributeType.STRING },
      sortKey: { name: "gsi1sk", type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    this.signerSecret =
      props.signerSecret ??
      new Secret(this, "SignerKey", {
        description: "Settlement signer (escrow service, distributor operator): replace with a 0x private key, or JSON {\"privateKey\": \"0x...\", \"rpcUrl\": \"https://...\"}",
        removalPolicy: props.removalPolicy,
      });
    Validations.of(this.signerSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason: "An EVM key cannot be rotated by a Lambda: a new key is a new address that must become the escrow's service and get the distributor's operator role on chain first.",
    });

    this.recordUsageFailures = secureQueue(this, "RecordUsageFailures");
    Validations.of(this.recordUsageFailures).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself the on-failure destination of the record-usage stream mapping (records of batches given up on); an alarm on its depth tells the operator (Monitoring).",
    });
    this.scheduleFailures = secureQueue(this, "ScheduleFailures");
    Validations.of(this.scheduleFailures).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself the dead-letter queue of the settle-epoch and chain-events schedules' targets; an alarm on its depth tells the operator (Monitoring).",
    });

    const env = {
      ...props.environment,
      TABLE_USAGE: this.usageTable.tableName,
      SETTLEMENT_EPOCH_SECONDS: String(epochSeconds),
      SETTLEMENT_GRACE_SECONDS: String(graceSeconds),
    };
    const chainEnv = {
      CHAIN_ADDRESSES: JSON.stringify(props.addresses),
      ...(props.rpcUrl ? { CHAIN_RPC_URL: props.rpcUrl } : {}),
    };

    // record-usage: the usage stream → final attribution → the call's settlement period.
    this.recordUsage = new AppFunction(this, "RecordUsage", {
      entry: "record-usage",
      description: "Makes each new usage record's attribution final and assigns the call to its settlement period",
      environment: { ...env, SETTLEMENT_SHARES: JSON.stringify(shares) } as FunctionEnvironment,
      timeout: Duration.minutes(1),
      removalPolicy: props.removalPolicy,
    });
    this.recordUsage.addEventSource(
      new DynamoEventSource(this.usageTable, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 25,
        bisectBatchOnError: true,
        retryAttempts: 10,
        maxRecordAge: Duration.days(1),
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.recordUsageFailures),
        // Only new usage records (sk RECORD): the ledger, channel and settlement items on the same stream are not its business.
        filters: [FilterCriteria.filter({ eventName: FilterRule.isEqual("INSERT"), dynamodb: { Keys: { pk: { S: FilterRule.beginsWith("USAGE#") }, sk: { S: FilterRule.isEqual("RECORD") } } } })],
      }),
    );
    // finalizeAttribution: the record, its payer copy, the kept input; assignCall: CALLREF, the period's freeze check, PERIODS, EARN.
    grantTableAccess(this.usageTable, this.recordUsage, {
      calls: ["get", "put", "delete", "check", "batchPut"],
      pkPrefixes: ["USAGE#", "USAGE_PAYER#", "ATTRIBUTION_INPUT#", "CALLREF#", "SETTLEMENT#", "PERIODS", "EARN#"],
    });

    // settle-epoch: every period, one run at a time (a lease in the table too; one key's nonces in order).
    this.settleEpoch = new AppFunction(this, "SettleEpoch", {
      entry: "settle-epoch",
      description: "Settles closed periods: redeems vouchers, splits every call exactly, publishes the rewards root",
      environment: { ...env, ...chainEnv, CHAIN_SIGNER_SECRET_ID: this.signerSecret.secretArn } as FunctionEnvironment,
      timeout: SETTLE_EPOCH_TIMEOUT,
      memorySize: 1024,
      removalPolicy: props.removalPolicy,
    });
    (this.settleEpoch.node.defaultChild as CfnFunction).reservedConcurrentExecutions = 1;
    this.settleRule = new Rule(this, "SettleSchedule", { description: "Settles pay-per-call periods", schedule: Schedule.rate(Duration.seconds(epochSeconds)) });
    this.settleRule.addTarget(new LambdaFunction(this.settleEpoch, { retryAttempts: 2, maxEventAge: Duration.hours(1), deadLetterQueue: this.scheduleFailures }));
    // Early redeem (core/payments/early-redeem.ts) sends from the same key, so it runs in the same function, every minute:
    // a channel whose withdrawal ripens before the next settlement is redeemed first.
    this.redeemClosingRule = new Rule(this, "RedeemClosingSchedule", { description: "Redeems channels whose withdrawal ripens before the next settlement", schedule: Schedule.rate(CHAIN_EVENTS_RATE) });
    this.redeemClosingRule.addTarget(
      new LambdaFunction(this.settleEpoch, {
        event: RuleTargetInput.fromObject({ "detail-type": "Scheduled Event", source: "aws.events", time: EventField.time, detail: { task: REDEEM_CLOSING_TASK } }),
        retryAttempts: 2,
        maxEventAge: Duration.minutes(5),
        deadLetterQueue: this.scheduleFailures,
      }),
    );
    // Its state, cursor and lease (SETTLEMENT…), the periods' markers and calls (PERIODS, gsi1 PERIOD#), ledgers of defaulted channels, the rewards.
    grantTableAccess(this.usageTable, this.settleEpoch, { calls: ["get", "put", "query", "batchPut"], pkPrefixes: ["SETTLEMENT", "PERIODS", "CHANNEL#", "REWARD#", "CLOSING"], gsi1Queries: { pkPrefixes: ["PERIOD#"] } });
    // The announcement: EVENT# items with a SETTLEMENT# marker per chunk, in transactions of puts.
    grantTableAccess(props.mainTable, this.settleEpoch, { calls: ["put"], pkPrefixes: ["SETTLEMENT#", "EVENT#"] });
    props.bucket.grantPut(this.settleEpoch, `${SETTLEMENTS_PREFIX}*`);
    const role = this.settleEpoch.role!;
    Validations.of(role).acknowledge({ id: "AwsSolutions-IAM5[Action::s3:Abort*]", reason: "s3:Abort* is the action family Bucket.grantPut emits (abandoning a multipart upload); it applies only to the settlements/ prefix." });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(props.bucket.node.defaultChild as CfnResource)}.Arn>/${SETTLEMENTS_PREFIX}*]`,
      reason: "One tree per settled period, keyed by the period number (settlements/{period}/tree.json); the grant is limited to that prefix.",
    });
    this.signerSecret.grantRead(this.settleEpoch);

    // chain-events: PaymentEscrow's logs → mirrored channels; reads the chain, sends nothing.
    this.chainEvents = new AppFunction(this, "ChainEvents", {
      entry: "chain-events",
      description: "Mirrors PaymentEscrow's channel events (deposits, withdrawals, redemptions) into the usage table",
      environment: { ...env, ...chainEnv, ...(props.rpcUrl ? {} : { CHAIN_SIGNER_SECRET_ID: this.signerSecret.secretArn }) } as FunctionEnvironment,
      timeout: Duration.minutes(1),
      removalPolicy: props.removalPolicy,
    });
    (this.chainEvents.node.defaultChild as CfnFunction).reservedConcurrentExecutions = 1;
    this.chainEventsRule = new Rule(this, "ChainEventsSchedule", { description: "Mirrors PaymentEscrow's events", schedule: Schedule.rate(CHAIN_EVENTS_RATE) });
    // A missed minute is caught up by the next run (it resumes from its cursor): no retries, old events dropped.
    this.chainEventsRule.addTarget(new LambdaFunction(this.chainEvents, { retryAttempts: 0, maxEventAge: Duration.minutes(2), deadLetterQueue: this.scheduleFailures }));
    grantTableAccess(this.usageTable, this.chainEvents, { calls: ["get", "put"], pkPrefixes: ["MIRROR", "CHANNEL#"] });
    // Only where the RPC URL (with its API key) lives in the secret: then it must read it.
    if (!props.rpcUrl) this.signerSecret.grantRead(this.chainEvents);
  }

  /**
   * What the API's payment routes read (GET /v1/usage, /v1/usage/{requestId}, /v1/rewards/{address}):
   * usage records and their payer copies, the calls' settlement entries and state, rewards and
   * pending earnings, and the owner index; reads only.
   */
  grantUsageReads(grantee: AppFunction): void {
    grantTableAccess(this.usageTable, grantee, {
      calls: ["get", "query"],
      pkPrefixes: ["USAGE#", "USAGE_PAYER#", "CALLREF#", "SETTLEMENT", "REWARD#", "EARN#"],
      gsi1Queries: { pkPrefixes: ["USAGE_OWNER#"] },
    });
    grantee.addEnvironment("TABLE_USAGE", this.usageTable.tableName);
  }
}
