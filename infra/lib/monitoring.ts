import { Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import type { HttpApi } from "aws-cdk-lib/aws-apigatewayv2";
import type { JobQueue } from "aws-cdk-lib/aws-batch";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { Rule } from "aws-cdk-lib/aws-events";
import { SnsTopic } from "aws-cdk-lib/aws-events-targets";
import { ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

/** Alarm thresholds, each with why it is where it is. */
export const ALARM_THRESHOLDS = {
  /** Any message in a failure queue is something given up on. */
  deadLetterMessages: 1,
  /** Any function error or throttle in 5 minutes: the handlers report per-record failures, so an error is a real fault. */
  functionErrors: 1,
  functionThrottles: 1,
  /** 5xx responses in 5 minutes; the app maps every expected failure to a 4xx. */
  api5xx: 5,
  /** p99 latency over 5 minutes: well under the API function's 29 s timeout. */
  apiLatencyP99: Duration.seconds(10),
  /** Oldest record a stream consumer is working on: chain sync waits for a predecessor on chain, so 30 minutes is a stuck stream. */
  streamIteratorAge: Duration.minutes(30),
} as const;

export interface MonitoringProps {
  /** Where alarms go: an email address subscribed to the alarm topic (context `modelfactory:alarmEmail`). */
  alarmEmail?: string;
  removalPolicy: RemovalPolicy;
}

/**
 * Someone is told when things break: one SNS topic (KMS-encrypted, TLS only,
 * an email subscription by context), an alarm for every failure queue's
 * depth, every function's errors and throttles, the HTTP API's 5xx and p99
 * latency, each stream consumer's iterator age and the trainer job queue's
 * failed jobs, and a dashboard of the same.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];
  readonly #action: SnsAction;
  readonly #errorMetrics: IMetric[] = [];
  readonly #queueMetrics: IMetric[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    // CloudWatch and EventBridge cannot publish to a topic under the AWS-managed SNS key; this key lets them.
    const key = new Key(this, "AlarmTopicKey", { enableKeyRotation: true, description: "Model Factory alarm topic", removalPolicy: props.removalPolicy });
    for (const service of ["cloudwatch.amazonaws.com", "events.amazonaws.com"]) key.grant(new ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey*");
    this.topic = new Topic(this, "Alarms", { displayName: "Model Factory alarms", masterKey: key, enforceSSL: true });
    if (props.alarmEmail) {
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(props.alarmEmail)) throw new Error(`alarmEmail must be an email address, got ${props.alarmEmail}`);
      this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    }
    this.#action = new SnsAction(this.topic);
    this.dashboard = new Dashboard(this, "Dashboard", { dashboardName: `${Stack.of(this).stackName}-operations`, defaultInterval: Duration.hours(6) });
  }

  /** Depth of a queue whose messages were given up on (a DLQ, an on-failure destination). */
  alarmOnFailureQueue(id: string, queue: IQueue): Alarm {
    const metric = queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: "Maximum" });
    // A label would turn the alarm's metric into a metric-math expression; the dashboard gets its own copy.
    this.#queueMetrics.push(metric.with({ label: id }));
    return this.#alarm(`${id}Depth`, metric, ALARM_THRESHOLDS.deadLetterMessages, `${id}: messages given up on are waiting (redrive or inspect them)`);
  }

  /** Errors and throttles of one function. */
  alarmOnFunction(id: string, fn: IFunction): void {
    const errors = fn.metricErrors({ period: Duration.minutes(5), statistic: "Sum" });
    this.#errorMetrics.push(errors.with({ label: id }));
    this.#alarm(`${id}Errors`, errors, ALARM_THRESHOLDS.functionErrors, `${id} failed invocations`);
    this.#alarm(`${id}Throttles`, fn.metricThrottles({ period: Duration.minutes(5), statistic: "Sum" }), ALARM_THRESHOLDS.functionThrottles, `${id} throttled (concurrency cap reached)`);
  }

  /** A stream consumer that falls behind or is stuck on a record. */
  alarmOnStreamConsumer(id: string, fn: IFunction): void {
    const age = fn.metric("IteratorAge", { period: Duration.minutes(5), statistic: "Maximum" });
    this.#alarm(`${id}IteratorAge`, age, ALARM_THRESHOLDS.streamIteratorAge.toMilliseconds(), `${id} is more than ${ALARM_THRESHOLDS.streamIteratorAge.toMinutes()} minutes behind its stream`);
  }

  /** The HTTP API's server errors and p99 latency. */
  alarmOnHttpApi(api: HttpApi): void {
    const errors = api.metricServerError({ period: Duration.minutes(5), statistic: "Sum" });
    const latency = api.metricLatency({ period: Duration.minutes(5), statistic: "p99" });
    this.#alarm("Api5xx", errors, ALARM_THRESHOLDS.api5xx, "HTTP API 5xx responses");
    this.#alarm("ApiLatencyP99", latency, ALARM_THRESHOLDS.apiLatencyP99.toMilliseconds(), "HTTP API p99 latency");
    this.dashboard.addWidgets(new GraphWidget({ title: "HTTP API", left: [api.metricCount({ period: Duration.minutes(5) }), errors], right: [latency], width: 12 }));
  }

  /**
   * Trainer jobs that FAILED on `jobQueue`: Batch publishes no metric of them, so a rule
   * matches the state change, mails the topic, and its TriggeredRules count is alarmed.
   */
  alarmOnFailedBatchJobs(jobQueue: JobQueue): Rule {
    const rule = new Rule(this, "FailedTrainerJobsRule", {
      description: "Trainer jobs that ended FAILED",
      eventPattern: { source: ["aws.batch"], detailType: ["Batch Job State Change"], detail: { jobQueue: [jobQueue.jobQueueArn], status: ["FAILED"] } },
    });
    rule.addTarget(new SnsTopic(this.topic));
    const triggered = new Metric({ namespace: "AWS/Events", metricName: "TriggeredRules", dimensionsMap: { RuleName: rule.ruleName }, period: Duration.minutes(5), statistic: "Sum" });
    this.#alarm("FailedTrainerJobs", triggered, 1, "A trainer job on AWS Batch ended FAILED (the platform may retry it; see the job's events)");
    return rule;
  }

  /** Adds the dashboard's summary widgets; call once everything is alarmed. */
  finish(): void {
    this.dashboard.addWidgets(
      new GraphWidget({ title: "Function errors", left: this.#errorMetrics, width: 12 }),
      new GraphWidget({ title: "Failure queues (messages given up on)", left: this.#queueMetrics, width: 12 }),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: "Alarms", alarms: this.alarms, width: 24 }));
  }

  #alarm(id: string, metric: IMetric, threshold: number, description: string): Alarm {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(this.#action);
    alarm.addOkAction(this.#action);
    this.alarms.push(alarm);
    return alarm;
  }
}
