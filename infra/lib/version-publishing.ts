import { Duration, type RemovalPolicy } from "aws-cdk-lib";
import type { IGrantable } from "aws-cdk-lib/aws-iam";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { datanetPk } from "../../core/datanets/keys.ts";
import { EVENT_PK_PREFIX } from "../../core/events.ts";
import { PUBLISH_MAX_RECEIVES } from "../../functions/handlers/publish-version.ts";
import { acknowledgeBucketGrant } from "./acknowledgments.ts";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import { CONTRIBUTION_ROW_PK_PREFIXES, DATANETS_PREFIX, VERSIONS_PREFIX } from "./datanets.ts";
import { secureQueue } from "./secure-queue.ts";
import { grantTableAccess, type Tables } from "./tables.ts";

/** A background build of the largest Datanets: reading every contribution and the accepted records, the tree, the snapshot. */
export const PUBLISH_TIMEOUT = Duration.minutes(15);

export interface VersionPublishingProps {
  tables: Tables;
  bucket: Bucket;
  environment: FunctionEnvironment;
  removalPolicy: RemovalPolicy;
}

/**
 * Publishing a Datanet version too large to build within an API request
 * (core/datanets/versions.ts `requestPublish`): the API reserves the number
 * and queues `{datanetId, version, publishId}` on the versions queue; this
 * function builds it. After PUBLISH_MAX_RECEIVES failed tries the version is
 * marked failed (its owner sees why) and the message goes to the DLQ.
 */
export class VersionPublishing extends Construct {
  readonly queue: Queue;
  readonly deadLetters: Queue;
  readonly function: AppFunction;

  constructor(scope: Construct, id: string, props: VersionPublishingProps) {
    super(scope, id);
    this.deadLetters = secureQueue(this, "DeadLetters");
    this.queue = secureQueue(this, "Queue", {
      visibilityTimeout: Duration.seconds(PUBLISH_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: PUBLISH_MAX_RECEIVES },
    });
    this.function = new AppFunction(this, "Function", {
      entry: "publish-version",
      description: "Builds a large Datanet version in the background: Merkle tree, records snapshot, version item",
      environment: props.environment,
      timeout: PUBLISH_TIMEOUT,
      memorySize: 3008,
      removalPolicy: props.removalPolicy,
    });
    this.function.addEventSource(new SqsEventSource(this.queue, { batchSize: 1, reportBatchItemFailures: true, maxConcurrency: 2 }));
    // The reservation, the Datanet, its uploads, the version item with its event: Datanet and event partitions only.
    grantTableAccess(props.tables.main, this.function, { calls: ["get", "put", "query"], pkPrefixes: [datanetPk(""), EVENT_PK_PREFIX] });
    // The Datanet's contribution rows (every shard), never its claims.
    grantTableAccess(props.tables.contributions, this.function, { calls: ["query"], pkPrefixes: CONTRIBUTION_ROW_PK_PREFIXES });
    // Reads accepted records (and lists their parts); writes the snapshot and tree, which nothing may delete afterwards.
    props.bucket.grantRead(this.function, `${DATANETS_PREFIX}*`);
    props.bucket.grantPut(this.function, `${VERSIONS_PREFIX}*`);
    acknowledgeBucketGrant(this.function, props.bucket, ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*"], [DATANETS_PREFIX, VERSIONS_PREFIX]);
  }

  /** The API: may queue builds. */
  grantRequest(grantee: IGrantable): void {
    this.queue.grantSendMessages(grantee);
  }
}
