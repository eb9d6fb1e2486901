import { RemovalPolicy, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import nag from "cdk-nag";
import { describe, expect, it } from "vitest";
import { ChainSync, CHAIN_SYNC_TIMEOUT } from "./chain-sync.ts";
import { Tables } from "./tables.ts";
import { exampleChainAddresses, testApp } from "./test-stack.ts";

const addresses = exampleChainAddresses;

function build(chainId = 8453) {
  const app = testApp();
  const stack = new Stack(app, "ChainTest", { env: { account: "111111111111", region: "eu-west-1" } });
  const tables = new Tables(stack, "Tables", { removalPolicy: RemovalPolicy.DESTROY });
  const environment = { TABLE_MAIN: tables.main.tableName, TABLE_CONTRIBUTIONS: tables.contributions.tableName, BUCKET: "b", API_ORIGIN: "https://api.example.com", CHAIN_ID: String(chainId) };
  const chainSync = new ChainSync(stack, "ChainSync", { mainTable: tables.main, environment, addresses, rpcUrl: "https://mainnet.base.org", removalPolicy: RemovalPolicy.DESTROY });
  return { app, stack, chainSync, template: Template.fromStack(stack) };
}

const { app, stack, chainSync, template } = build();
const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);

describe("ChainSync construct", () => {
  it("runs one instance at a time with the addresses, RPC URL and the secret's ARN (never the key) in its environment", () => {
    const fn = template.findResources("AWS::Lambda::Function")[logicalId(chainSync.function)]!;
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    expect(fn.Properties.Timeout).toBe(CHAIN_SYNC_TIMEOUT.toSeconds());
    expect(fn.Properties.Runtime).toBe("nodejs24.x");
    const vars = fn.Properties.Environment.Variables;
    expect(JSON.parse(vars.CHAIN_ADDRESSES)).toEqual(addresses);
    expect(vars.CHAIN_RPC_URL).toBe("https://mainnet.base.org");
    expect(vars.CHAIN_SIGNER_SECRET_ID).toEqual({ Ref: logicalId(chainSync.signerSecret as never) });
  });

  it("reads only new datanet.version.published and adapter.created events from the stream, in order, with bisect, retries and an on-failure queue", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: logicalId(chainSync.function) },
      StartingPosition: "TRIM_HORIZON",
      BisectBatchOnFunctionError: true,
      ParallelizationFactor: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [logicalId(chainSync.failures), "Arn"] } } },
      FilterCriteria: {
        Filters: [
          {
            Pattern: JSON.stringify({
              eventName: ["INSERT"],
              dynamodb: { Keys: { pk: { S: [{ prefix: "EVENT#" }] } }, NewImage: { type: { S: ["datanet.version.published", "adapter.created"] } } },
            }),
          },
          {
            // Price changes reach chain sync on AWS as they do locally (core/chain/route-change.ts).
            Pattern: JSON.stringify({
              eventName: ["INSERT", "MODIFY"],
              dynamodb: { Keys: { pk: { S: [{ prefix: "ADAPTER#" }] }, sk: { S: ["PRICE"] } }, NewImage: { kind: { S: ["adapter-price"] } } },
            }),
          },
        ],
      },
    });
  });

  it("may read the signer secret, and only get and put its own, the Datanet, adapter and event items of the main table", () => {
    const role = logicalId(chainSync.function.role as never);
    const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: role }] } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    const secretActions = statements.filter((s) => JSON.stringify(s.Resource).includes(logicalId(chainSync.signerSecret as never))).flatMap((s) => [s.Action].flat());
    expect(new Set(secretActions)).toEqual(new Set(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]));
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:GetRecords"]));
    expect(actions).not.toContain("dynamodb:Scan");
    expect(actions).not.toContain("dynamodb:DeleteItem");
    const tableStatements = statements.filter((s) => [s.Action].flat().includes("dynamodb:PutItem")) as { Condition?: unknown }[];
    expect(tableStatements.length).toBeGreaterThan(0);
    for (const statement of tableStatements) {
      expect(JSON.stringify(statement.Condition)).toContain("dynamodb:LeadingKeys");
      expect(JSON.stringify(statement.Condition)).toContain("CHAIN#");
    }
  });

  it("passes cdk-nag's AWS Solutions checks, each suppression with a reason", () => {
    template.hasResourceProperties("AWS::SecretsManager::Secret", { Description: Match.stringLikeRegexp("private key") });
    const report = new nag.AwsSolutionsChecks(app).validateScope(chainSync);
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.locations?.join(", ") ?? r.resourceLogicalId}`));
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it("refuses addresses for another chain than the stack's", () => {
    expect(() => build(1)).toThrow(/addresses are for chain 8453/);
  });
});
