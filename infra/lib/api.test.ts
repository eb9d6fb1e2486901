import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { testStack } from "./test-stack.ts";

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

const { template, stack } = testStack();
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const apiRole = logicalId(stack.api.handler.role as never);

describe("Api", () => {
  it("HTTP API routes everything to the api function", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Api", { ProtocolType: "HTTP", CorsConfiguration: Match.objectLike({ AllowOrigins: ["https://app.example.com"] }) });
    template.hasResourceProperties("AWS::ApiGatewayV2::Route", { RouteKey: "$default" });
    template.hasResourceProperties("AWS::ApiGatewayV2::Integration", { IntegrationType: "AWS_PROXY", PayloadFormatVersion: "2.0" });
  });

  it("stage has access logging and throttling", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });

  it("access log: one JSON line with HTTP API's fields (route, status, latency, integration error, user agent)", () => {
    const stage = Object.values(template.findResources("AWS::ApiGatewayV2::Stage"))[0]!;
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
    expect(format).toMatchObject({
      requestId: "$context.requestId",
      routeKey: "$context.routeKey",
      status: "$context.status",
      latency: "$context.responseLatency",
      integrationError: "$context.integrationErrorMessage",
      userAgent: "$context.identity.userAgent",
      sourceIp: "$context.identity.sourceIp",
    });
    // REST-API-only variables that an HTTP API logs as "-"
    expect(JSON.stringify(format)).not.toMatch(/resourcePath|\$context\.identity\.caller|\$context\.identity\.user"/);
  });

  it("api may write objects under uploads/ (presigned), datanets/*/versions/ (publish) and jobs/ (specs) only", () => {
    const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: apiRole }] } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const puts = statements.filter((s) => [s.Action].flat().includes("s3:PutObject"));
    const prefixes = puts.flatMap((s) => [s.Resource].flat()).map((r) => JSON.stringify(r).match(/"\/([^"]*)"/)?.[1]).sort();
    expect(prefixes).toEqual(["datanets/*/versions/*", "jobs/*", "uploads/*"]);
  });

  it("api function: Node 24 on ARM64 with only resource names in its environment", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Role: { "Fn::GetAtt": [apiRole, "Arn"] },
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Environment: {
        Variables: Match.objectLike({
          TABLE_MAIN: Match.anyValue(),
          TABLE_CONTRIBUTIONS: Match.anyValue(),
          BUCKET: Match.anyValue(),
          API_ORIGIN: "https://api.example.com",
          CHAIN_ID: "8453",
        }),
      },
    });
  });

  it("api may presign PUTs under uploads/, read and write derived files, and never delete objects", () => {
    const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: apiRole }] } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    const onUploads = statements.filter((s) => JSON.stringify(s.Resource).includes("/uploads/*"));
    expect(onUploads.flatMap((s) => [s.Action].flat()).sort()).toEqual(["s3:Abort*", "s3:PutObject", "s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"].sort());
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.some((a) => a.startsWith("s3:DeleteObject"))).toBe(false);
    // Queues: it may send (a new job), never receive or delete.
    expect(actions.filter((a) => a.startsWith("sqs:") && !/^sqs:(SendMessage|GetQueueAttributes|GetQueueUrl)$/.test(a))).toEqual([]);
  });

  it("api may only read contributions, and uses no Scan, UpdateItem or batch call on either table", () => {
    const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: apiRole }] } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const dynamo = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")));
    const on = (table: string) =>
      dynamo
        .filter((s) => JSON.stringify(s.Resource).includes(table))
        .map((s) => ({ resource: JSON.stringify(s.Resource).includes("/index/") ? "gsi1" : "table", actions: [s.Action].flat().sort() }))
        .sort((a, b) => b.resource.localeCompare(a.resource));
    const main = logicalId(stack.tables.main);
    const contributions = logicalId(stack.tables.contributions);
    // Transactions of puts and deletes need PutItem and DeleteItem; no use case behind the API writes checks.
    expect(on(main)).toEqual([
      { resource: "table", actions: ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"] },
      { resource: "gsi1", actions: ["dynamodb:Query"] },
    ]);
    expect(on(contributions)).toEqual([
      { resource: "table", actions: ["dynamodb:GetItem", "dynamodb:Query"] },
      { resource: "gsi1", actions: ["dynamodb:Query"] },
    ]);
    // Index access is gsi1 alone, not index/*.
    for (const s of dynamo) expect(JSON.stringify(s.Resource)).not.toContain("/index/*");
  });
});

describe("Api: rate limits", () => {
  it("names the rate-limit table in the api function's environment and lets it get, update and delete counters there only", () => {
    const table = logicalId(stack.tables.rateLimits);
    template.hasResourceProperties("AWS::Lambda::Function", {
      Role: { "Fn::GetAtt": [apiRole, "Arn"] },
      Environment: { Variables: Match.objectLike({ RATE_LIMIT_TABLE: { Ref: table } }) },
    });
    const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: apiRole }] } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const onTable = statements.filter((s) => JSON.stringify(s.Resource).includes(`"${table}"`));
    expect(onTable.map((s) => [s.Action].flat().sort())).toEqual([["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]]);
  });

  it("rate-limit table: partition key `key` and TTL on `expire`, as RateLimiterDynamo writes them", () => {
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: [{ AttributeName: "key", KeyType: "HASH" }],
      TimeToLiveSpecification: { AttributeName: "expire", Enabled: true },
      BillingMode: "PAY_PER_REQUEST",
    });
  });
});
