import { Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { FilterCriteria, FilterRule, StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource, SqsDlq, SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import { secureQueue } from "./secure-queue.ts";
import { grantTableAccess } from "./tables.ts";

/**
 * Main-table partitions of webhook endpoints and their deliveries
 * (core/webhooks/items.ts): `WEBHOOK#{id}` holds the endpoint and its deliveries.
 */
export const WEBHOOK_PK_PREFIX = "WEBHOOK#";
/** gsi1 partition of an account's endpoints: `ACCOUNT#{address}` / `WEBHOOK#{id}`. */
export const ACCOUNT_GSI1PK_PREFIX = "ACCOUNT#";

/** The dispatcher waits up to 10 s per delivery and runs a batch's deliveries in parallel. */
export const DISPATCH_TIMEOUT = Duration.seconds(60);
export const ROUTE_TIMEOUT = Duration.seconds(60);

export interface WebhooksProps {
  mainTable: Table;
  /** Everything but the webhook queue URLs, which this construct owns. */
  environment: FunctionEnvironment;
  removalPolicy: RemovalPolicy;
}

/**
 * Webhook delivery: the main table's stream → route-events (one queue message
 * per subscribed endpoint) → webhooks queue → dispatcher. `webhooks-dlq` is
 * both the queue's redrive target and where the dispatcher puts deliveries it
 * gives up on, so every failed delivery is in one place.
 */
export class Webhooks extends Construct {
  readonly queue: Queue;
  readonly deadLetters: Queue;
  /** Stream batches route-events could not process after its retries. */
  readonly routingFailures: Queue;
  readonly dispatchFunction: AppFunction;
  readonly routeFunction: AppFunction;

  constructor(scope: Construct, id: string, props: WebhooksProps) {
    super(scope, id);
    this.deadLetters = secureQueue(this, "DeadLetters");
    this.queue = secureQueue(this, "Queue", {
      visibilityTimeout: Duration.seconds(DISPATCH_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: 5 },
    });
    this.routingFailures = secureQueue(this, "RoutingFailures");
    Validations.of(this.routingFailures).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself the on-failure destination of the route-events stream mapping (records of batches given up on); an alarm on its depth tells the operator (Monitoring).",
    });
    const environment: FunctionEnvironment = {
      ...props.environment,
      WEBHOOKS_QUEUE_URL: this.queue.queueUrl,
      WEBHOOKS_DLQ_URL: this.deadLetters.queueUrl,
    };

    this.routeFunction = new AppFunction(this, "RouteEvents", {
      entry: "route-events",
      description: "Fans domain events from the main table's stream out to subscribed webhook endpoints",
      environment: { ...environment, WEBHOOKS_DLQ_URL: undefined },
      timeout: ROUTE_TIMEOUT,
      removalPolicy: props.removalPolicy,
    });
    this.routeFunction.addEventSource(
      new DynamoEventSource(props.mainTable, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(1),
        bisectBatchOnError: true,
        retryAttempts: 5,
        maxRecordAge: Duration.days(1),
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.routingFailures),
        // Only new outbox events reach the function; every other change is dropped by Lambda.
        filters: [FilterCriteria.filter({ eventName: FilterRule.isEqual("INSERT"), dynamodb: { Keys: { pk: { S: FilterRule.beginsWith("EVENT#") } } } })],
      }),
    );
    // routeEvent (core/webhooks/route-event.ts) finds an audience account's endpoints on gsi1 and
    // records each delivery as pending under its endpoint (reading it back when it exists); it gets
    // events from the stream, not the table.
    grantTableAccess(props.mainTable, this.routeFunction, {
      calls: ["get", "put"],
      pkPrefixes: [WEBHOOK_PK_PREFIX],
      gsi1Queries: { pkPrefixes: [ACCOUNT_GSI1PK_PREFIX] },
    });
    this.queue.grantSendMessages(this.routeFunction);

    this.dispatchFunction = new AppFunction(this, "Dispatch", {
      entry: "webhook-dispatch",
      description: "Signs and delivers webhook messages, retrying with backoff",
      environment,
      timeout: DISPATCH_TIMEOUT,
      removalPolicy: props.removalPolicy,
    });
    this.dispatchFunction.addEventSource(
      new SqsEventSource(this.queue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 20 }),
    );
    // dispatchWebhook (core/webhooks/dispatch.ts) reads and conditionally writes the endpoint and the
    // delivery, both under WEBHOOK# (with a transaction of puts and a check when it dead-letters). It
    // calls user-chosen URLs, so it may touch nothing else: no API keys, nonces, sessions, Datanets, events.
    grantTableAccess(props.mainTable, this.dispatchFunction, { calls: ["get", "put", "check"], pkPrefixes: [WEBHOOK_PK_PREFIX] });
    this.queue.grantSendMessages(this.dispatchFunction);
    this.deadLetters.grantSendMessages(this.dispatchFunction);
  }
}
