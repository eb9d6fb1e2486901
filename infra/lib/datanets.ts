import { Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { AnyPrincipal, Effect, Grant, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { BlockPublicAccess, Bucket, BucketEncryption, EventType, HttpMethods, ObjectOwnership } from "aws-cdk-lib/aws-s3";
import { SqsDestination } from "aws-cdk-lib/aws-s3-notifications";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { CLAIM_PK_PREFIX, CONTRIBUTION_PK_PREFIX } from "../../core/datanets/contribution-layout.ts";
import { datanetPk } from "../../core/datanets/keys.ts";
import { EVENT_PK_PREFIX } from "../../core/events.ts";
import { acknowledgeBucketGrant } from "./acknowledgments.ts";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import { secureQueue } from "./secure-queue.ts";
import { grantTableAccess, type Tables } from "./tables.ts";

/** Where browsers upload; the ingest notification only fires under it. */
export const UPLOADS_PREFIX = "uploads/";
/** Derived Datanet files: accepted records, version snapshots and trees. */
export const DATANETS_PREFIX = "datanets/";

/** Accepted-records files ingest writes, one per upload: `datanets/{datanet}/accepted/{upload}.jsonl` (and its parts). */
export const ACCEPTED_PREFIX = `${DATANETS_PREFIX}*/accepted/`;
/**
 * Frozen version snapshots the API writes when it publishes a version: `datanets/{datanet}/versions/{n}/`
 * (records.jsonl, tree.json). A root on chain commits to them, so nothing may delete them.
 */
export const VERSIONS_PREFIX = `${DATANETS_PREFIX}*/versions/`;
/** How long an overwritten or deleted object's previous version is kept, outside the snapshots (which keep every version). */
export const NONCURRENT_VERSION_DAYS = 30;

/** Lambda's maximum: a large file gets all the time there is (one file per invocation, see batchSize). */
export const INGEST_TIMEOUT = Duration.minutes(15);
/** Releasing a large upload's rows can take a while too. */
export const INGEST_DLQ_TIMEOUT = Duration.minutes(15);
/** Lambda's guidance: a queue's visibility timeout at least six times its consumer's timeout (SQS allows up to 12 h). */
const VISIBILITY_FACTOR = 6;

/** Main-table partitions ingest and its dead-letter consumer touch: Datanets with their uploads, and outbox events. */
const INGEST_MAIN_PK_PREFIXES = [datanetPk(""), EVENT_PK_PREFIX];

/**
 * Contributions-table partitions whose rows readers list (core/datanets/contribution-layout.ts):
 * the sharded row partitions `CONTRIB#{datanet}#{shard}` (and, on gsi1, their by-status partitions
 * `CONTRIB#{datanet}#{shard}#{status}`), and `DATANET#{datanet}`, where a Datanet created before
 * sharding keeps its rows (`DATANET#{datanet}#{status}` on gsi1). Claims (`CLAIM#`) are not among them.
 */
export const CONTRIBUTION_ROW_PK_PREFIXES = [CONTRIBUTION_PK_PREFIX, datanetPk("")];
/**
 * ... and those ingest and its dead-letter consumer write: the rows, the content-hash claims
 * `CLAIM#{datanet}#{hash prefix}`, and `DATANET#{datanet}` for the ingest checkpoints (and the
 * rows and claims of Datanets created before sharding).
 */
export const CONTRIBUTION_WRITE_PK_PREFIXES = [CONTRIBUTION_PK_PREFIX, CLAIM_PK_PREFIX, datanetPk("")];

export interface DatanetsProps {
  tables: Tables;
  /** Origins allowed to PUT to presigned upload URLs from a browser. */
  uploadOrigins: string[];
  /** Everything but BUCKET, which this construct owns. */
  environment: Omit<FunctionEnvironment, "BUCKET">;
  removalPolicy: RemovalPolicy;
}

/**
 * Datanet storage and ingest: the data bucket (browser uploads under
 * `uploads/`, derived files under `datanets/`) → object-created notification
 * → ingest queue → ingest function; after 5 receives → ingest DLQ →
 * ingest-dlq function, which fails the upload with a reason and releases its
 * records, so no upload stays `processing` for ever.
 */
export class Datanets extends Construct {
  readonly bucket: Bucket;
  readonly accessLogs: Bucket;
  readonly ingestQueue: Queue;
  readonly ingestDeadLetters: Queue;
  /** Messages of the ingest DLQ that its consumer failed on 5 times. */
  readonly ingestDeadLetterFailures: Queue;
  readonly ingestFunction: AppFunction;
  readonly ingestDeadLetterFunction: AppFunction;

  constructor(scope: Construct, id: string, props: DatanetsProps) {
    super(scope, id);
    this.accessLogs = new Bucket(this, "AccessLogs", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.accessLogs).acknowledge({
      id: "AwsSolutions-S1",
      reason: "This is the access-log bucket itself; logging its own access would recurse.",
    });

    this.bucket = new Bucket(this, "Data", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: "data/",
      cors: [
        {
          allowedMethods: [HttpMethods.PUT],
          allowedOrigins: props.uploadOrigins,
          // What S3BlobStore.presignUpload tells the client to send (content-length is set by the browser).
          allowedHeaders: ["content-type", "x-amz-checksum-sha256"],
          exposedHeaders: ["ETag"],
          maxAge: 3600,
        },
      ],
      // Versioned, so an overwrite of a snapshot keeps what the chain root committed to.
      versioned: true,
      lifecycleRules: [
        { id: "abort-incomplete-multipart", abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // Old versions expire everywhere but under datanets/ (no rule there: snapshots keep every version).
        ...["uploads/", "jobs/", "base-models/"].map((prefix) => ({
          id: `expire-noncurrent-${prefix.slice(0, -1)}`,
          prefix,
          noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS),
        })),
      ],
      removalPolicy: props.removalPolicy,
    });
    // Retention of the frozen snapshots: no principal, this account's administrators included, may
    // delete an object or any of its versions there (changing this needs a bucket-policy change, which CloudTrail records).
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: "FrozenVersionSnapshotsAreNeverDeleted",
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:BypassGovernanceRetention"],
        resources: [this.bucket.arnForObjects(`${VERSIONS_PREFIX}*`)],
      }),
    );

    // What the ingest-DLQ consumer itself could not process (marking the upload failed kept failing).
    this.ingestDeadLetterFailures = secureQueue(this, "IngestDeadLetterFailures");
    Validations.of(this.ingestDeadLetterFailures).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is the ingest dead-letter queue's own dead-letter queue; an alarm on its depth tells the operator (Monitoring).",
    });
    this.ingestDeadLetters = secureQueue(this, "IngestDeadLetters", {
      visibilityTimeout: Duration.seconds(INGEST_DLQ_TIMEOUT.toSeconds() * VISIBILITY_FACTOR),
      deadLetterQueue: { queue: this.ingestDeadLetterFailures, maxReceiveCount: 5 },
    });
    this.ingestQueue = secureQueue(this, "IngestQueue", {
      visibilityTimeout: Duration.seconds(INGEST_TIMEOUT.toSeconds() * VISIBILITY_FACTOR),
      deadLetterQueue: { queue: this.ingestDeadLetters, maxReceiveCount: 5 },
    });
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(this.ingestQueue), { prefix: UPLOADS_PREFIX });

    this.ingestFunction = new AppFunction(this, "Ingest", {
      entry: "ingest",
      description: "Parses, validates and records the contributions of an uploaded file",
      // A run near its time limit checkpoints and queues its own continuation on the ingest queue.
      environment: { ...props.environment, BUCKET: this.bucket.bucketName, INGEST_QUEUE_URL: this.ingestQueue.queueUrl },
      timeout: INGEST_TIMEOUT,
      memorySize: 1024,
      removalPolicy: props.removalPolicy,
    });
    this.ingestFunction.addEventSource(
      new SqsEventSource(this.ingestQueue, {
        // One file per invocation: a large file must not take the small ones in its batch down with it.
        batchSize: 1,
        reportBatchItemFailures: true,
        // Bounds the table write rate a burst of uploads can cause.
        maxConcurrency: 10,
      }),
    );
    this.ingestQueue.grantSendMessages(this.ingestFunction);
    this.bucket.grantRead(this.ingestFunction, `${UPLOADS_PREFIX}*`);
    // Writes (and on a rerun, replaces or deletes) its upload's accepted-records files, nothing else under datanets/.
    this.bucket.grantReadWrite(this.ingestFunction, `${ACCEPTED_PREFIX}*`);
    // ingestObject (core/ingest): the upload and its Datanet, the upload's final status with its event.
    grantTableAccess(props.tables.main, this.ingestFunction, { calls: ["get", "put"], pkPrefixes: INGEST_MAIN_PK_PREFIXES });
    // Contribution rows in bulk, conditional content-hash claims, and a rollback's deletes.
    grantTableAccess(props.tables.contributions, this.ingestFunction, {
      calls: ["get", "put", "delete", "query", "batchPut"],
      pkPrefixes: CONTRIBUTION_WRITE_PK_PREFIXES,
    });
    acknowledgeBucketGrant(
      this.ingestFunction,
      this.bucket,
      ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"],
      [UPLOADS_PREFIX, ACCEPTED_PREFIX],
    );

    this.ingestDeadLetterFunction = new AppFunction(this, "IngestDeadLetter", {
      entry: "ingest-dlq",
      description: "Fails the uploads whose ingest was given up, releasing their records",
      environment: { ...props.environment, BUCKET: this.bucket.bucketName },
      timeout: INGEST_DLQ_TIMEOUT,
      removalPolicy: props.removalPolicy,
    });
    this.ingestDeadLetterFunction.addEventSource(
      new SqsEventSource(this.ingestDeadLetters, { batchSize: 1, reportBatchItemFailures: true, maxConcurrency: 2 }),
    );
    // markUploadDeadLettered (core/ingest): the upload and its Datanet, the failed status with its event.
    grantTableAccess(props.tables.main, this.ingestDeadLetterFunction, { calls: ["get", "put"], pkPrefixes: INGEST_MAIN_PK_PREFIXES });
    // releaseUploadRecords: the upload's contribution rows and the hash claims they hold.
    grantTableAccess(props.tables.contributions, this.ingestDeadLetterFunction, { calls: ["query", "delete"], pkPrefixes: CONTRIBUTION_WRITE_PK_PREFIXES });
    // ... and its accepted-records file; DeleteObject alone, no read.
    Grant.addToPrincipal({
      grantee: this.ingestDeadLetterFunction,
      actions: ["s3:DeleteObject"],
      resourceArns: [this.bucket.arnForObjects(`${ACCEPTED_PREFIX}*`)],
    });
    // Accepted records come in parts (one per ingest checkpoint): it lists them under the accepted prefix only.
    Grant.addToPrincipal({
      grantee: this.ingestDeadLetterFunction,
      actions: ["s3:ListBucket"],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { "s3:prefix": [`${ACCEPTED_PREFIX}*`] } },
    });
    acknowledgeBucketGrant(this.ingestDeadLetterFunction, this.bucket, [], [ACCEPTED_PREFIX]);

    // The stack-wide custom resource CDK adds to configure the bucket notification.
    const notificationsHandler = Stack.of(this).node.tryFindChild("BucketNotificationsHandler050a0587b7544547bf325f094a3db834");
    if (notificationsHandler) {
      Validations.of(notificationsHandler).acknowledge({
        id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        reason: "CDK's own bucket-notification custom resource; the managed policy only allows writing its logs.",
      });
    }
  }
}
