import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { AppFunction } from "./app-function.ts";
import { testStack } from "./test-stack.ts";

const { template, stack } = testStack({ alarmEmail: "ops@example.com" });
const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const topic = () => ({ Ref: logicalId(stack.monitoring.topic) });
const alarms = () => Object.values(template.findResources("AWS::CloudWatch::Alarm"));
/** Alarms on a metric with these dimensions (a queue's name, a function's name). */
const alarmsOn = (metricName: string, dimension: string, value: unknown) =>
  alarms().filter((a) => a.Properties.MetricName === metricName && (a.Properties.Dimensions ?? []).some((d: { Name: string; Value: unknown }) => d.Name === dimension && JSON.stringify(d.Value) === JSON.stringify(value)));

describe("Monitoring", () => {
  it("has an encrypted, TLS-only alarm topic with the email subscription from context", () => {
    template.hasResourceProperties("AWS::SNS::Topic", { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties("AWS::SNS::Subscription", { Protocol: "email", Endpoint: "ops@example.com", TopicArn: topic() });
    template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } })]) },
    });
  });

  it("every alarm notifies the topic when it fires and when it clears", () => {
    expect(alarms().length).toBeGreaterThan(20);
    for (const alarm of alarms()) {
      expect(alarm.Properties.AlarmActions).toEqual([topic()]);
      expect(alarm.Properties.OKActions).toEqual([topic()]);
    }
  });

  it("alarms on the depth of every failure queue", () => {
    const queues = [
      stack.datanets.ingestDeadLetters,
      stack.datanets.ingestDeadLetterFailures,
      stack.webhooks.deadLetters,
      stack.webhooks.routingFailures,
      stack.training.queues.jobsDeadLetters,
      stack.training.queues.jobEventsDeadLetters,
      stack.training.pipeline.stateChangeFailures,
      stack.chainSync!.failures,
      stack.settlement!.recordUsageFailures,
      stack.settlement!.scheduleFailures,
    ];
    for (const queue of queues) {
      const found = alarmsOn("ApproximateNumberOfMessagesVisible", "QueueName", { "Fn::GetAtt": [logicalId(queue), "QueueName"] });
      expect(found, queue.node.path).toHaveLength(1);
      expect(found[0]!.Properties).toMatchObject({ Threshold: 1, ComparisonOperator: "GreaterThanOrEqualToThreshold", Statistic: "Maximum" });
    }
  });

  it("alarms on every function's errors and throttles", () => {
    const functions = stack.node.findAll().filter((c): c is AppFunction => c instanceof AppFunction);
    expect(functions.length).toBeGreaterThanOrEqual(10);
    for (const fn of functions) {
      for (const metric of ["Errors", "Throttles"]) expect(alarmsOn(metric, "FunctionName", { Ref: logicalId(fn) }), `${fn.node.path} ${metric}`).toHaveLength(1);
    }
  });

  it("alarms on the stream consumers' iterator age", () => {
    for (const fn of [stack.webhooks.routeFunction, stack.chainSync!.function, stack.settlement!.recordUsage]) {
      expect(alarmsOn("IteratorAge", "FunctionName", { Ref: logicalId(fn) })[0]!.Properties).toMatchObject({ Statistic: "Maximum", Threshold: 30 * 60_000 });
    }
  });

  it("alarms on the HTTP API's 5xx and p99 latency", () => {
    const api = { Ref: logicalId(stack.api.httpApi) };
    expect(alarmsOn("5xx", "ApiId", api)).toHaveLength(1);
    expect(alarmsOn("Latency", "ApiId", api)[0]!.Properties).toMatchObject({ ExtendedStatistic: "p99", Threshold: 10_000 });
  });

  it("mails and alarms on trainer jobs that FAILED on the job queue", () => {
    const rule = Object.values(template.findResources("AWS::Events::Rule")).find((r) => JSON.stringify(r.Properties.EventPattern?.detail?.status) === '["FAILED"]')!;
    expect(rule.Properties.EventPattern.detail.jobQueue).toEqual([{ "Fn::GetAtt": [logicalId(stack.training.compute.jobQueue), "JobQueueArn"] }]);
    expect(rule.Properties.Targets).toEqual([expect.objectContaining({ Arn: topic() })]);
    expect(alarms().filter((a) => a.Properties.MetricName === "TriggeredRules" && a.Properties.Namespace === "AWS/Events")).toHaveLength(1);
  });

  it("has a dashboard", () => {
    template.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
  });

  it("refuses an alarm email that is no address", () => {
    expect(() => testStack({ alarmEmail: "ops" })).toThrow(/alarmEmail/);
  });
});
