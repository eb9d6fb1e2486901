import { App, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AccountRootPrincipal, Role } from "aws-cdk-lib/aws-iam";
import { describe, expect, it } from "vitest";
import { grantTableAccess, type TableAccess, Tables } from "./tables.ts";
import { testOutdir, testStack } from "./test-stack.ts";

const { template, stack } = testStack();
const keySchema = [
  { AttributeName: "pk", KeyType: "HASH" },
  { AttributeName: "sk", KeyType: "RANGE" },
];
const gsi1 = Match.arrayWith([
  Match.objectLike({
    IndexName: "gsi1",
    KeySchema: [
      { AttributeName: "gsi1pk", KeyType: "HASH" },
      { AttributeName: "gsi1sk", KeyType: "RANGE" },
    ],
    Projection: { ProjectionType: "ALL" },
  }),
]);

describe("Tables", () => {
  it("main table: pk/sk, gsi1, on-demand, PITR, TTL, AWS-managed encryption, NEW_AND_OLD_IMAGES stream", () => {
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: keySchema,
      GlobalSecondaryIndexes: gsi1,
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: "ttl", Enabled: true },
      SSESpecification: { SSEEnabled: true },
      StreamSpecification: { StreamViewType: "NEW_AND_OLD_IMAGES" },
    });
  });

  /** The two TableStore tables (pk/sk), not the rate-limit counters. */
  const storeTables = () => Object.values(template.findResources("AWS::DynamoDB::Table")).filter((t) => JSON.stringify(t.Properties.KeySchema) === JSON.stringify(keySchema));

  it("contributions table: same keys and index, no stream", () => {
    // Found by its id: other pk/sk tables (settlement's usage table) are no TableStore of `Tables`.
    const contributions = template.findResources("AWS::DynamoDB::Table")[stack.getLogicalId(stack.tables.contributions.node.defaultChild as never)]!;
    expect(contributions.Properties.StreamSpecification).toBeUndefined();
    expect(contributions.Properties).toMatchObject({
      KeySchema: keySchema,
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it("keeps both tables when the stack is deleted (RETAIN by default)", () => {
    for (const table of storeTables()) {
      expect(table.DeletionPolicy).toBe("Retain");
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    }
  });
});

describe("grantTableAccess", () => {
  /** The statements `access` grants a bare role on the main table. */
  function grant(access: TableAccess) {
    const stack = new Stack(new App({ outdir: testOutdir() }));
    const tables = new Tables(stack, "Tables", { removalPolicy: RemovalPolicy.DESTROY });
    const role = new Role(stack, "Role", { assumedBy: new AccountRootPrincipal() });
    grantTableAccess(tables.main, role, access);
    const table = stack.getLogicalId(tables.main.node.defaultChild as never);
    const policies = Object.values(Template.fromStack(stack).findResources("AWS::IAM::Policy"));
    return { table, statements: policies.flatMap((p) => p.Properties.PolicyDocument.Statement) };
  }

  it("grants the calls' actions on the table and Query alone on gsi1, each limited to its partition-key prefixes", () => {
    const { table, statements } = grant({ calls: ["get", "put", "check"], pkPrefixes: ["WEBHOOK#"], gsi1Queries: { pkPrefixes: ["ACCOUNT#", "DELIVERIES#"] } });
    expect(statements).toEqual([
      {
        Effect: "Allow",
        Action: ["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem"],
        Resource: { "Fn::GetAtt": [table, "Arn"] },
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["WEBHOOK#*"] } },
      },
      {
        Effect: "Allow",
        Action: "dynamodb:Query",
        Resource: { "Fn::Join": ["", [{ "Fn::GetAtt": [table, "Arn"] }, "/index/gsi1"]] },
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["ACCOUNT#*", "DELIVERIES#*"] } },
      },
    ]);
  });

  it("without prefixes: every partition, no condition; no index access unless asked; never Scan", () => {
    const { table, statements } = grant({ calls: ["get", "put", "delete", "query", "batchPut"] });
    expect(statements).toEqual([
      {
        Effect: "Allow",
        Action: ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
        Resource: { "Fn::GetAtt": [table, "Arn"] },
      },
    ]);
  });

  it("refuses prefixes that would match more than they say", () => {
    expect(() => grant({ calls: ["get"], pkPrefixes: [] })).toThrow(/at least one prefix/);
    expect(() => grant({ calls: ["get"], pkPrefixes: [""] })).toThrow(/non-empty literal prefix/);
    expect(() => grant({ calls: ["get"], pkPrefixes: ["WEBHOOK#*"] })).toThrow(/non-empty literal prefix/);
    expect(() => grant({ calls: [], gsi1Queries: { pkPrefixes: ["ACC?"] } })).toThrow(/non-empty literal prefix/);
  });
});
