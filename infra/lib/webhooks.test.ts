import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { deliveryItem, webhookItem } from "../../core/webhooks/items.ts";
import { testStack } from "./test-stack.ts";
import { DISPATCH_TIMEOUT } from "./webhooks.ts";

type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, string[]>> };

const { template, stack } = testStack();
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const webhooksQueue = logicalId(stack.webhooks.queue);
const deadLetters = logicalId(stack.webhooks.deadLetters);
const routingFailures = logicalId(stack.webhooks.routingFailures);
const mainTable = logicalId(stack.tables.main);

function statementsOf(fn: { role?: unknown }): Statement[] {
  const role = logicalId(fn.role as never);
  const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: role }] } });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

/** The DynamoDB statements on the main table and its index: where, what, and which partition keys. */
function tableAccessOf(fn: { role?: unknown }) {
  return statementsOf(fn)
    .filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")) && JSON.stringify(s.Resource).includes(`"${mainTable}","Arn"`))
    .map((s) => ({
      on: JSON.stringify(s.Resource).includes("/index/gsi1") ? "gsi1" : "table",
      actions: [s.Action].flat().sort(),
      leadingKeys: s.Condition?.["ForAllValues:StringLike"]?.["dynamodb:LeadingKeys"],
      conditions: Object.keys(s.Condition ?? {}),
    }))
    .sort((a, b) => b.on.localeCompare(a.on));
}

/** Whether an IAM StringLike pattern of the form `PREFIX*` (what grantTableAccess writes) matches a key. */
const matches = (pattern: string, value: string) => pattern.endsWith("*") && value.startsWith(pattern.slice(0, -1));

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

  it("dispatcher (it calls user-chosen URLs) may only get, put and check items under WEBHOOK#, nothing else in the table", () => {
    expect(tableAccessOf(stack.webhooks.dispatchFunction)).toEqual([
      {
        on: "table",
        actions: ["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem"],
        leadingKeys: ["WEBHOOK#*"],
        conditions: ["ForAllValues:StringLike"],
      },
    ]);
    // What core/webhooks reads and writes lies inside that prefix: the endpoint and its deliveries.
    const endpoint = webhookItem({ id: "wh_1", owner: "0xabc", url: "https://x.example", events: ["*"], enabled: true, createdAt: "t", secret: "s", consecutiveFailures: 0 } as never);
    const delivery = deliveryItem({ deliveryId: "msg_1", webhookId: "wh_1" } as never, 0);
    for (const pk of [endpoint.pk, delivery.pk]) expect(matches("WEBHOOK#*", pk)).toBe(true);
    // Never API keys, nonces, Datanets or events.
    for (const pk of ["APIKEY#k", "NONCE#n", "DATANET#d", "EVENT#e", "ACCOUNT#0xabc"]) expect(matches("WEBHOOK#*", pk)).toBe(false);
  });

  it("route-events may get and put deliveries under WEBHOOK#, and query gsi1 only in ACCOUNT# partitions", () => {
    expect(tableAccessOf(stack.webhooks.routeFunction)).toEqual([
      { on: "table", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], leadingKeys: ["WEBHOOK#*"], conditions: ["ForAllValues:StringLike"] },
      { on: "gsi1", actions: ["dynamodb:Query"], leadingKeys: ["ACCOUNT#*"], conditions: ["ForAllValues:StringLike"] },
    ]);
    // routeEvent finds an account's endpoints by their gsi1 partition.
    const endpoint = webhookItem({ id: "wh_1", owner: "0xabc", url: "https://x.example", events: ["*"], enabled: true, createdAt: "t", secret: "s", consecutiveFailures: 0 } as never);
    expect(matches("ACCOUNT#*", endpoint.gsi1pk as string)).toBe(true);
    // It reads its events from the stream: stream actions on the stream ARN only, no condition needed there.
    const stream = statementsOf(stack.webhooks.routeFunction).filter((s) => JSON.stringify(s.Resource).includes("StreamArn"));
    expect(stream.flatMap((s) => [s.Action].flat()).sort()).toEqual(["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]);
  });

  it("neither webhook function may Scan, UpdateItem, batch-read or batch-write, nor touch the contributions table", () => {
    const contributions = logicalId(stack.tables.contributions);
    for (const fn of [stack.webhooks.dispatchFunction, stack.webhooks.routeFunction]) {
      const actions = actionsOf(fn);
      for (const action of ["dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"]) {
        expect(actions).not.toContain(action);
      }
      expect(JSON.stringify(statementsOf(fn))).not.toContain(contributions);
    }
  });
});
