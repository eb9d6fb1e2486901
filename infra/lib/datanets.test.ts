import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { INGEST_TIMEOUT } from "./datanets.ts";
import { testStack } from "./test-stack.ts";

const { template, stack } = testStack();
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const dataBucket = logicalId(stack.datanets.bucket);
const ingestRole = logicalId(stack.datanets.ingestFunction.role as never);
const ingestQueue = logicalId(stack.datanets.ingestQueue);

/** The statements of the policy attached to a role. */
function statementsOf(roleLogicalId: string): { Action: string | string[]; Resource: unknown }[] {
  const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: roleLogicalId }] } });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}
const actionsOf = (roleLogicalId: string) => statementsOf(roleLogicalId).flatMap((s) => [s.Action].flat());

describe("Datanets", () => {
  it("data bucket: public access blocked, encrypted, TLS only, access-logged", () => {
    template.hasResourceProperties("AWS::S3::Bucket", {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
      LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
    });
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: { Ref: dataBucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Action: "s3:*", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
  });

  it("data bucket: CORS for browser PUTs with the checksum header, and aborts stale multipart uploads after a day", () => {
    template.hasResourceProperties("AWS::S3::Bucket", {
      CorsConfiguration: {
        CorsRules: [
          Match.objectLike({
            AllowedMethods: ["PUT"],
            AllowedOrigins: ["https://app.example.com"],
            AllowedHeaders: ["content-type", "x-amz-checksum-sha256"],
          }),
        ],
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: "Enabled" })]),
      },
    });
  });

  it("sends object-created events under uploads/ to the ingest queue", () => {
    template.hasResourceProperties("Custom::S3BucketNotifications", {
      BucketName: { Ref: dataBucket },
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ["s3:ObjectCreated:*"],
            Filter: { Key: { FilterRules: [{ Name: "prefix", Value: "uploads/" }] } },
            QueueArn: { "Fn::GetAtt": [ingestQueue, "Arn"] },
          },
        ],
      },
    });
  });

  it("ingest queue: encrypted, DLQ after 5 receives, visibility at least 6x the function timeout", () => {
    const queue = template.findResources("AWS::SQS::Queue")[ingestQueue]!;
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(5);
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * INGEST_TIMEOUT.toSeconds());
    template.hasResourceProperties("AWS::Lambda::Function", {
      Role: { "Fn::GetAtt": [ingestRole, "Arn"] },
      Timeout: INGEST_TIMEOUT.toSeconds(),
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      TracingConfig: { Mode: "Active" },
    });
  });

  it("ingest function consumes the queue reporting batch item failures", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [ingestQueue, "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it("ingest may read uploads and write derived files and tables, nothing else", () => {
    const statements = statementsOf(ingestRole);
    const s3Resources = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("s3:"))).flatMap((s) => [s.Resource].flat());
    const prefixes = s3Resources.map((r) => JSON.stringify(r)).filter((r) => r.includes("/"));
    expect(prefixes.every((r) => r.includes("/uploads/*") || r.includes("/datanets/*"))).toBe(true);
    const actions = actionsOf(ingestRole);
    expect(actions).toEqual(expect.arrayContaining(["s3:GetObject*", "dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:Query"]));
    // Reads uploads but never writes or deletes them.
    const uploadStatements = statements.filter((s) => JSON.stringify(s.Resource).includes("/uploads/*"));
    expect(uploadStatements.flatMap((s) => [s.Action].flat()).some((a) => /^s3:(Put|Delete)/.test(a))).toBe(false);
    expect(actions.some((a) => a.startsWith("sqs:Send"))).toBe(false);
  });
});
