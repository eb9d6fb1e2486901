import { Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { BlockPublicAccess, Bucket, BucketEncryption, EventType, HttpMethods, ObjectOwnership } from "aws-cdk-lib/aws-s3";
import { SqsDestination } from "aws-cdk-lib/aws-s3-notifications";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { acknowledgeBucketGrant, acknowledgeTableIndexes } from "./acknowledgments.ts";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import { secureQueue } from "./secure-queue.ts";
import type { Tables } from "./tables.ts";

/** Where browsers upload; the ingest notification only fires under it. */
export const UPLOADS_PREFIX = "uploads/";
/** Derived Datanet files: accepted records, version snapshots and trees. */
export const DATANETS_PREFIX = "datanets/";

/** Lambda's guidance: visibility timeout at least six times the consumer's timeout. */
export const INGEST_TIMEOUT = Duration.minutes(10);

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
 * → ingest queue (with DLQ) → ingest function.
 */
export class Datanets extends Construct {
  readonly bucket: Bucket;
  readonly accessLogs: Bucket;
  readonly ingestQueue: Queue;
  readonly ingestDeadLetters: Queue;
  readonly ingestFunction: AppFunction;

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
      lifecycleRules: [{ id: "abort-incomplete-multipart", abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: props.removalPolicy,
    });

    this.ingestDeadLetters = secureQueue(this, "IngestDeadLetters");
    this.ingestQueue = secureQueue(this, "IngestQueue", {
      visibilityTimeout: Duration.seconds(INGEST_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.ingestDeadLetters, maxReceiveCount: 5 },
    });
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(this.ingestQueue), { prefix: UPLOADS_PREFIX });

    this.ingestFunction = new AppFunction(this, "Ingest", {
      entry: "ingest",
      description: "Parses, validates and records the contributions of an uploaded file",
      environment: { ...props.environment, BUCKET: this.bucket.bucketName },
      timeout: INGEST_TIMEOUT,
      memorySize: 1024,
      removalPolicy: props.removalPolicy,
    });
    this.ingestFunction.addEventSource(
      new SqsEventSource(this.ingestQueue, {
        batchSize: 4,
        reportBatchItemFailures: true,
        // Bounds the table write rate a burst of uploads can cause.
        maxConcurrency: 10,
      }),
    );
    this.bucket.grantRead(this.ingestFunction, `${UPLOADS_PREFIX}*`);
    // Writes (and on a rerun, replaces or deletes) the accepted-records file.
    this.bucket.grantReadWrite(this.ingestFunction, `${DATANETS_PREFIX}*`);
    props.tables.main.grantReadWriteData(this.ingestFunction);
    props.tables.contributions.grantReadWriteData(this.ingestFunction);
    acknowledgeTableIndexes(this.ingestFunction, props.tables.main, props.tables.contributions);
    acknowledgeBucketGrant(
      this.ingestFunction,
      this.bucket,
      ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"],
      [UPLOADS_PREFIX, DATANETS_PREFIX],
    );

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
