import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { Bucket } from "aws-cdk-lib/aws-s3";
import nag from "cdk-nag";
import { describe, expect, it } from "vitest";
import { treeBlobKey } from "../../core/settlement/keys.ts";
import { Settlement, SETTLEMENTS_PREFIX, type SettlementProps } from "./settlement.ts";
import { Tables } from "./tables.ts";
import { AppFunction } from "./app-function.ts";
import { exampleChainAddresses, testApp } from "./test-stack.ts";

function build(overrides: Partial<SettlementProps> = {}) {
  const app = testApp();
  const stack = new Stack(app, "SettlementTest", { env: { account: "111111111111", region: "eu-west-1" } });
  const tables = new Tables(stack, "Tables", { removalPolicy: RemovalPolicy.DESTROY });
  const bucket = new Bucket(stack, "Data", { enforceSSL: true });
  const environment = { TABLE_MAIN: tables.main.tableName, TABLE_CONTRIBUTIONS: tables.contributions.tableName, BUCKET: bucket.bucketName, API_ORIGIN: "https://api.example.com", CHAIN_ID: "8453" };
  const settlement = new Settlement(stack, "Settlement", { mainTable: tables.main, bucket, environment, addresses: exampleChainAddresses, rpcUrl: "https://mainnet.base.org", removalPolicy: RemovalPolicy.DESTROY, ...overrides });
  const api = new AppFunction(stack, "Api", { entry: "api", description: "the API", environment, timeout: Duration.seconds(29), removalPolicy: RemovalPolicy.DESTROY });
  settlement.grantUsageReads(api);
  const template = Template.fromStack(stack);
  const id = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
  type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
  /** Every statement of the policies on a function's role. */
  const statementsOf = (fn: { role?: unknown }): Statement[] =>
    Object.values(template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: stack.getLogicalId((fn.role as { node: { defaultChild: never } }).node.defaultChild) }] } })).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  return { app, stack, tables, bucket, settlement, api, template, id, statementsOf };
}

const world = build();
const { settlement, template, id, statementsOf } = world;
const on = (s: { Resource: unknown }, c: { node: { defaultChild?: unknown } }) => JSON.stringify(s.Resource).includes(id(c));
const leadingKeys = (s: { Condition?: unknown }) => (s.Condition as { "ForAllValues:StringLike"?: { "dynamodb:LeadingKeys": string[] } } | undefined)?.["ForAllValues:StringLike"]?.["dynamodb:LeadingKeys"];

describe("Settlement construct", () => {
  it("keeps usage in its own table with a stream of old and new images, the gsi1 index and a TTL", () => {
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      StreamSpecification: { StreamViewType: "NEW_AND_OLD_IMAGES" },
      TimeToLiveSpecification: { AttributeName: "ttl", Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      GlobalSecondaryIndexes: [{ IndexName: "gsi1" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
    });
    const vars = template.findResources("AWS::Lambda::Function")[id(settlement.recordUsage)]!.Properties.Environment.Variables;
    expect(vars.TABLE_USAGE).toEqual({ Ref: id(settlement.usageTable) });
  });

  it("runs record-usage on the usage stream: new usage records only, with bisect, partial failures and an on-failure queue", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: id(settlement.recordUsage) },
      EventSourceArn: { "Fn::GetAtt": [id(settlement.usageTable), "StreamArn"] },
      StartingPosition: "TRIM_HORIZON",
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [id(settlement.recordUsageFailures), "Arn"] } } },
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ eventName: ["INSERT"], dynamodb: { Keys: { pk: { S: [{ prefix: "USAGE#" }] }, sk: { S: ["RECORD"] } } } }) }] },
    });
    // The settlement period's shares for the pending estimates, the period itself.
    const vars = template.findResources("AWS::Lambda::Function")[id(settlement.recordUsage)]!.Properties.Environment.Variables;
    expect(JSON.parse(vars.SETTLEMENT_SHARES)).toEqual({ contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 });
    expect(vars.SETTLEMENT_EPOCH_SECONDS).toBe("3600");
  });

  it("settles hourly by default, one run at a time, failed runs to a dead-letter queue; the mirror every minute", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(1 hour)",
      Targets: [{ Arn: { "Fn::GetAtt": [id(settlement.settleEpoch), "Arn"] }, RetryPolicy: { MaximumRetryAttempts: 2 }, DeadLetterConfig: { Arn: { "Fn::GetAtt": [id(settlement.scheduleFailures), "Arn"] } } }],
    });
    template.hasResourceProperties("AWS::Events::Rule", { ScheduleExpression: "rate(1 minute)", Targets: [{ Arn: { "Fn::GetAtt": [id(settlement.chainEvents), "Arn"] } }] });
    // Early redemption runs in settle-epoch itself every minute (one key's nonces, one run at a time), asked by its event's task.
    const redeem = Object.values(template.findResources("AWS::Events::Rule")).find((r) => JSON.stringify(r.Properties.Targets[0]).includes("redeem-closing-channels"));
    expect(redeem?.Properties.ScheduleExpression).toBe("rate(1 minute)");
    expect(redeem?.Properties.Targets[0].Arn).toEqual({ "Fn::GetAtt": [id(settlement.settleEpoch), "Arn"] });
    expect(redeem?.Properties.Targets[0].DeadLetterConfig).toEqual({ Arn: { "Fn::GetAtt": [id(settlement.scheduleFailures), "Arn"] } });
    const fns = template.findResources("AWS::Lambda::Function");
    expect(fns[id(settlement.settleEpoch)]!.Properties.ReservedConcurrentExecutions).toBe(1);
    expect(fns[id(settlement.settleEpoch)]!.Properties.Timeout).toBe(900);
    expect(fns[id(settlement.chainEvents)]!.Properties.ReservedConcurrentExecutions).toBe(1);
    // The epoch comes from the stack's settings (context): ten minutes.
    const short = build({ epochSeconds: 600, graceSeconds: 30 });
    short.template.hasResourceProperties("AWS::Events::Rule", { ScheduleExpression: "rate(10 minutes)" });
    expect(short.template.findResources("AWS::Lambda::Function")[short.id(short.settlement.settleEpoch)]!.Properties.Environment.Variables).toMatchObject({ SETTLEMENT_EPOCH_SECONDS: "600", SETTLEMENT_GRACE_SECONDS: "30" });
  });

  it("gives record-usage exactly its TableStore calls on its key prefixes of the usage table, and nothing else", () => {
    const statements = statementsOf(settlement.recordUsage);
    const usage = statements.filter((s) => on(s, settlement.usageTable) && !JSON.stringify(s.Resource).includes("StreamArn"));
    const tableActions = usage.flatMap((s) => [s.Action].flat()).filter((a) => !a.startsWith("dynamodb:DescribeStream") && !["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"].includes(a));
    expect(new Set(tableActions)).toEqual(new Set(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:BatchWriteItem"]));
    for (const s of usage.filter((s) => [s.Action].flat().includes("dynamodb:PutItem"))) {
      expect(new Set(leadingKeys(s))).toEqual(new Set(["USAGE#*", "USAGE_PAYER#*", "ATTRIBUTION_INPUT#*", "CALLREF#*", "SETTLEMENT#*", "PERIODS*", "EARN#*"]));
    }
    // No other table, no secret, no bucket.
    expect(statements.filter((s) => on(s, world.tables.main) || on(s, settlement.signerSecret as never) || JSON.stringify(s.Resource).includes("Data"))).toEqual([]);
  });

  it("lets settle-epoch read the key, write epoch trees under settlements/ only, and write only settlement and event items of the main table", () => {
    const statements = statementsOf(settlement.settleEpoch);
    const secret = statements.filter((s) => on(s, settlement.signerSecret as never)).flatMap((s) => [s.Action].flat());
    expect(new Set(secret)).toEqual(new Set(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]));
    const bucket = statements.filter((s) => on(s, world.bucket));
    expect(JSON.stringify(bucket.map((s) => s.Resource))).toContain("/settlements/*");
    expect(treeBlobKey(7).startsWith(SETTLEMENTS_PREFIX)).toBe(true);
    expect(bucket.flatMap((s) => [s.Action].flat()).some((a) => /s3:(Get|Delete)/.test(a))).toBe(false);
    const main = statements.filter((s) => on(s, world.tables.main));
    expect(main.flatMap((s) => [s.Action].flat())).toEqual(["dynamodb:PutItem"]);
    expect(new Set(leadingKeys(main[0]!))).toEqual(new Set(["SETTLEMENT#*", "EVENT#*"]));
    const index = statements.find((s) => JSON.stringify(s.Resource).includes("/index/gsi1"))!;
    expect(index.Action).toBe("dynamodb:Query");
    expect(leadingKeys(index)).toEqual(["PERIOD#*"]);
  });

  it("keeps the key from chain-events when the RPC URL is given, and lets it write only the mirror and channel items", () => {
    const statements = statementsOf(settlement.chainEvents);
    expect(statements.filter((s) => on(s, settlement.signerSecret as never))).toEqual([]);
    const usage = statements.filter((s) => on(s, settlement.usageTable));
    expect(new Set(usage.flatMap((s) => [s.Action].flat()))).toEqual(new Set(["dynamodb:GetItem", "dynamodb:PutItem"]));
    expect(new Set(leadingKeys(usage[0]!))).toEqual(new Set(["MIRROR*", "CHANNEL#*"]));
    // Without an RPC URL it is in the secret, which chain-events must then read.
    const noRpc = build({ rpcUrl: undefined as never });
    expect(noRpc.statementsOf(noRpc.settlement.chainEvents).filter((s) => JSON.stringify(s.Resource).includes(noRpc.id(noRpc.settlement.signerSecret as never)))).not.toEqual([]);
  });

  it("lets the API read usage records, settlement entries and rewards (no writes), and tells it the table", () => {
    const statements = statementsOf(world.api);
    const usage = statements.filter((s) => on(s, settlement.usageTable));
    expect(new Set(usage.flatMap((s) => [s.Action].flat()))).toEqual(new Set(["dynamodb:GetItem", "dynamodb:Query"]));
    const table = usage.find((s) => !JSON.stringify(s.Resource).includes("/index/"))!;
    expect(new Set(leadingKeys(table))).toEqual(new Set(["USAGE#*", "USAGE_PAYER#*", "CALLREF#*", "SETTLEMENT*", "REWARD#*", "EARN#*"]));
    expect(leadingKeys(usage.find((s) => JSON.stringify(s.Resource).includes("/index/gsi1"))!)).toEqual(["USAGE_OWNER#*"]);
    expect(template.findResources("AWS::Lambda::Function")[id(world.api)]!.Properties.Environment.Variables.TABLE_USAGE).toEqual({ Ref: id(settlement.usageTable) });
  });

  it("passes cdk-nag's AWS Solutions checks, each suppression with a reason", () => {
    const report = new nag.AwsSolutionsChecks(world.app).validateScope(settlement);
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.locations?.join(", ") ?? r.resourceLogicalId}`));
    expect(findings).toEqual([]);
  });

  it("refuses an epoch that is not whole minutes, a grace as long as the epoch, and addresses of another chain", () => {
    expect(() => build({ epochSeconds: 90 })).toThrow(/whole number of minutes/);
    expect(() => build({ epochSeconds: 600, graceSeconds: 600 })).toThrow(/graceSeconds/);
    expect(() => build({ addresses: { ...exampleChainAddresses, chainId: 1 } })).toThrow(/addresses are for chain 1/);
  });
});
