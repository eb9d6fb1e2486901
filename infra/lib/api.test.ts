import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { testStack } from "./test-stack.ts";

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
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp("requestId") },
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
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
    // TransactWriteItems is authorised by the per-item actions it contains.
    expect(actions).toEqual(expect.arrayContaining(["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:Query"]));
    expect(actions.some((a) => a.startsWith("s3:DeleteObject"))).toBe(false);
    expect(actions.some((a) => a.startsWith("sqs:"))).toBe(false);
  });
});
