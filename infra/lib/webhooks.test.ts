import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { testStack } from "./test-stack.ts";
import { DISPATCH_TIMEOUT } from "./webhooks.ts";

const { template, stack } = testStack();
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const webhooksQueue = logicalId(stack.webhooks.queue);
const deadLetters = logicalId(stack.webhooks.deadLetters);
const routingFailures = logicalId(stack.webhooks.routingFailures);
const mainTable = logicalId(stack.tables.main);

function actionsOf(fn: { role?: unknown }): string[] {
  const role = logicalId(fn.role as never);
  const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: role }] } });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat()));
}

describe("Webhooks", () => {
  it("webhooks queue dead-letters to webhooks-dlq after 5 receives, visibility at least 6x the dispatcher timeout", () => {
    const queue = template.findResources("AWS::SQS::Queue")[webhooksQueue]!;
    expect(queue.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { "Fn::GetAtt": [deadLetters, "Arn"] }, maxReceiveCount: 5 });
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * DISPATCH_TIMEOUT.toSeconds());
    for (const q of Object.values(template.findResources("AWS::SQS::Queue"))) expect(q.Properties.SqsManagedSseEnabled).toBe(true);
  });

  it("dispatcher consumes the webhooks queue with partial batch failures and may re-queue and dead-letter", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [webhooksQueue, "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    const actions = actionsOf(stack.webhooks.dispatchFunction);
    expect(actions).toEqual(expect.arrayContaining(["sqs:SendMessage", "dynamodb:PutItem", "dynamodb:GetItem"]));
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: { Variables: Match.objectLike({ WEBHOOKS_QUEUE_URL: { Ref: webhooksQueue }, WEBHOOKS_DLQ_URL: { Ref: deadLetters } }) },
    });
  });

  it("route-events reads the main table's stream: INSERTs of EVENT# items only, bisect, retries, on-failure queue", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [mainTable, "StreamArn"] },
      StartingPosition: "TRIM_HORIZON",
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [routingFailures, "Arn"] } } },
      FilterCriteria: {
        Filters: [{ Pattern: JSON.stringify({ eventName: ["INSERT"], dynamodb: { Keys: { pk: { S: [{ prefix: "EVENT#" }] } } } }) }],
      },
    });
  });

  it("route-events may send to the webhooks queue but not to the dead letters", () => {
    const actions = actionsOf(stack.webhooks.routeFunction);
    expect(actions).toEqual(expect.arrayContaining(["dynamodb:GetRecords", "dynamodb:Query", "sqs:SendMessage"]));
    const role = logicalId(stack.webhooks.routeFunction.role as never);
    const policy = JSON.stringify(template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: role }] } }));
    // Only the on-failure destination and the webhooks queue: never the dead letters.
    expect(policy.includes(deadLetters)).toBe(false);
  });
});
