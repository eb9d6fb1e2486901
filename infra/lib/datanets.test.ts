import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { acceptedBlobKey, datanetKey, uploadKey } from "../../core/datanets/keys.ts";
import { eventWrite } from "../../core/events.ts";
import { INGEST_DLQ_TIMEOUT, INGEST_TIMEOUT } from "./datanets.ts";
import { testStack } from "./test-stack.ts";

const { template, stack } = testStack();
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const dataBucket = logicalId(stack.datanets.bucket);
const ingestRole = logicalId(stack.datanets.ingestFunction.role as never);
const ingestQueue = logicalId(stack.datanets.ingestQueue);
const ingestDlq = logicalId(stack.datanets.ingestDeadLetters);
const dlqFunction = logicalId(stack.datanets.ingestDeadLetterFunction);
const dlqRole = logicalId(stack.datanets.ingestDeadLetterFunction.role as never);
const mainTable = logicalId(stack.tables.main);
const contributionsTable = logicalId(stack.tables.contributions);

/** The statements of the policy attached to a role. */
type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, string[]>> };

function statementsOf(roleLogicalId: string): Statement[] {
  const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: roleLogicalId }] } });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}
const actionsOf = (roleLogicalId: string) => statementsOf(roleLogicalId).flatMap((s) => [s.Action].flat());

/** A role's DynamoDB statements on one table: actions, whether on its index, and the partition-key patterns allowed. */
function tableAccess(roleLogicalId: string, table: string) {
  return statementsOf(roleLogicalId)
    .filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")) && JSON.stringify(s.Resource).includes(`"${table}","Arn"`))
    .map((s) => ({
      index: JSON.stringify(s.Resource).includes("/index/"),
      actions: [s.Action].flat().sort(),
      leadingKeys: s.Condition?.["ForAllValues:StringLike"]?.["dynamodb:LeadingKeys"],
    }));
}
const matchesAny = (patterns: string[], key: string) => patterns.some((p) => p.endsWith("*") && key.startsWith(p.slice(0, -1)));

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

  it("ingest queue: encrypted, DLQ after 5 receives, visibility at least 6x the function's 15-minute timeout, within SQS's 12 h", () => {
    const queue = template.findResources("AWS::SQS::Queue")[ingestQueue]!;
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(queue.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { "Fn::GetAtt": [ingestDlq, "Arn"] }, maxReceiveCount: 5 });
    expect(INGEST_TIMEOUT.toSeconds()).toBe(15 * 60);
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * 15 * 60);
    expect(queue.Properties.VisibilityTimeout).toBeLessThanOrEqual(12 * 3600);
    template.hasResourceProperties("AWS::Lambda::Function", {
      Role: { "Fn::GetAtt": [ingestRole, "Arn"] },
      Timeout: 900,
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      TracingConfig: { Mode: "Active" },
    });
  });

  it("ingest function consumes the queue one file per invocation, reporting batch item failures", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [ingestQueue, "Arn"] },
      BatchSize: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it("ingest DLQ is consumed by ingest-dlq, one message at a time, with a visibility at least 6x its timeout", () => {
    const fn = template.findResources("AWS::Lambda::Function")[dlqFunction]!;
    expect(fn.Properties).toMatchObject({ Timeout: INGEST_DLQ_TIMEOUT.toSeconds(), Runtime: "nodejs24.x", TracingConfig: { Mode: "Active" } });
    expect(fn.Properties.Environment.Variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: "ingest-dlq",
      TABLE_MAIN: { Ref: mainTable },
      TABLE_CONTRIBUTIONS: { Ref: contributionsTable },
      BUCKET: { Ref: dataBucket },
    });
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [ingestDlq, "Arn"] },
      FunctionName: { Ref: dlqFunction },
      BatchSize: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    const dlq = template.findResources("AWS::SQS::Queue")[ingestDlq]!;
    expect(dlq.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * INGEST_DLQ_TIMEOUT.toSeconds());
    expect(dlq.Properties.VisibilityTimeout).toBeLessThanOrEqual(12 * 3600);
    expect(dlq.Properties.SqsManagedSseEnabled).toBe(true);
  });

  it("ingest-dlq may fail uploads (with their event), release their rows and claims, and delete accepted files only", () => {
    const statements = statementsOf(dlqRole);
    const s3 = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("s3:")));
    expect(s3).toEqual([
      { Effect: "Allow", Action: "s3:DeleteObject", Resource: { "Fn::Join": ["", [{ "Fn::GetAtt": [dataBucket, "Arn"] }, "/datanets/*/accepted/*"]] } },
      // Listing an upload's accepted parts, and nothing else of the bucket.
      { Effect: "Allow", Action: "s3:ListBucket", Resource: { "Fn::GetAtt": [dataBucket, "Arn"] }, Condition: { StringLike: { "s3:prefix": ["datanets/*/accepted/*"] } } },
    ]);
    expect(tableAccess(dlqRole, mainTable)).toEqual([
      { index: false, actions: ["dynamodb:GetItem", "dynamodb:PutItem"], leadingKeys: ["DATANET#*", "EVENT#*"] },
    ]);
    expect(tableAccess(dlqRole, contributionsTable)).toEqual([
      { index: false, actions: ["dynamodb:DeleteItem", "dynamodb:Query"], leadingKeys: ["CONTRIB#*", "CLAIM#*", "DATANET#*"] },
    ]);
    const sqs = actionsOf(dlqRole).filter((a) => a.startsWith("sqs:"));
    expect(sqs.some((a) => a.startsWith("sqs:Send"))).toBe(false);
    // The keys markUploadDeadLettered and releaseUploadRecords touch lie inside what is granted.
    for (const key of [uploadKey("dn_1", "up_1").pk, datanetKey("dn_1").pk, (eventWrite("upload.completed", {}, [], 0) as { put: { pk: string } }).put.pk]) {
      expect(matchesAny(["DATANET#*", "EVENT#*"], key)).toBe(true);
    }
    expect(acceptedBlobKey("dn_1", "up_1")).toMatch(/^datanets\/[^/]+\/accepted\//);
  });

  it("ingest uses no Scan, UpdateItem or batch read, and touches only Datanet and event partitions of the main table", () => {
    for (const role of [ingestRole, dlqRole]) {
      for (const action of ["dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"]) {
        expect(actionsOf(role)).not.toContain(action);
      }
      expect(JSON.stringify(statementsOf(role))).not.toContain("/index/");
    }
    expect(tableAccess(ingestRole, mainTable)).toEqual([
      { index: false, actions: ["dynamodb:GetItem", "dynamodb:PutItem"], leadingKeys: ["DATANET#*", "EVENT#*"] },
    ]);
    expect(tableAccess(ingestRole, contributionsTable)).toEqual([
      {
        index: false,
        actions: ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
        leadingKeys: ["CONTRIB#*", "CLAIM#*", "DATANET#*"],
      },
    ]);
  });

  it("ingest may read uploads and write derived files and tables, nothing else", () => {
    const statements = statementsOf(ingestRole);
    const s3Resources = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("s3:"))).flatMap((s) => [s.Resource].flat());
    const prefixes = s3Resources.map((r) => JSON.stringify(r)).filter((r) => r.includes("/"));
    expect(prefixes.every((r) => r.includes("/uploads/*") || r.includes("/datanets/*/accepted/*"))).toBe(true);
    const actions = actionsOf(ingestRole);
    expect(actions).toEqual(expect.arrayContaining(["s3:GetObject*", "dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:Query"]));
    // Reads uploads but never writes or deletes them.
    const uploadStatements = statements.filter((s) => JSON.stringify(s.Resource).includes("/uploads/*"));
    expect(uploadStatements.flatMap((s) => [s.Action].flat()).some((a) => /^s3:(Put|Delete)/.test(a))).toBe(false);
    // It sends only to its own queue: a run near its time limit queues its continuation.
    const sends = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("sqs:Send")));
    expect(sends.map((s) => s.Resource)).toEqual([{ "Fn::GetAtt": [ingestQueue, "Arn"] }]);
  });

  it("ingest may write and delete only its accepted-records files under datanets/, never a version snapshot", () => {
    const writes = statementsOf(ingestRole).filter((s) => [s.Action].flat().some((a) => /^s3:(Put|Delete)/.test(a)));
    // Object ARNs only: the bucket's own ARN in the same statement is for List and GetBucket*.
    const resources = writes.flatMap((s) => [s.Resource].flat()).map((r) => JSON.stringify(r)).filter((r) => r.includes('"/'));
    expect(resources.length).toBeGreaterThan(0);
    for (const r of resources) expect(r).toContain("/datanets/*/accepted/*");
  });

  it("data bucket: versioned, and a bucket policy denies every principal deleting a version snapshot or any of its versions", () => {
    template.hasResourceProperties("AWS::S3::Bucket", { VersioningConfiguration: { Status: "Enabled" }, LoggingConfiguration: Match.anyValue() });
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: { Ref: dataBucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: Match.arrayWith(["s3:DeleteObject", "s3:DeleteObjectVersion"]),
            Resource: { "Fn::Join": ["", [{ "Fn::GetAtt": [dataBucket, "Arn"] }, "/datanets/*/versions/*"]] },
          }),
        ]),
      },
    });
  });

  it("data bucket: old versions expire outside datanets/ only, so snapshots keep every version", () => {
    const bucket = template.findResources("AWS::S3::Bucket")[dataBucket]!;
    const rules = bucket.Properties.LifecycleConfiguration.Rules as { Prefix?: string; NoncurrentVersionExpiration?: unknown }[];
    const expiring = rules.filter((r) => r.NoncurrentVersionExpiration);
    expect(expiring.map((r) => r.Prefix).sort()).toEqual(["base-models/", "jobs/", "uploads/"]);
  });

  it("ingest DLQ has a dead-letter queue of its own, so a message its consumer keeps failing on is kept", () => {
    const dlq = template.findResources("AWS::SQS::Queue")[ingestDlq]!;
    expect(dlq.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { "Fn::GetAtt": [logicalId(stack.datanets.ingestDeadLetterFailures), "Arn"] }, maxReceiveCount: 5 });
  });
});
