import { describe, expect, it } from "vitest";
import { PUBLISH_MAX_RECEIVES } from "../../functions/handlers/publish-version.ts";
import { testStack } from "./test-stack.ts";

const { stack, template } = testStack();
const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
function actionsOf(roleLogicalId: string): string[] {
  const policies = Object.values(template.findResources("AWS::IAM::Policy")).filter((p) =>
    (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleLogicalId),
  );
  return policies.flatMap((p) => (p.Properties.PolicyDocument.Statement as Statement[]).flatMap((s) => [s.Action].flat()));
}

describe("VersionPublishing", () => {
  const publishing = stack.versionPublishing;
  const role = logicalId(publishing.function.role as never);

  it("consumes the versions queue one build at a time, dead-lettering after the tries the handler counts on", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [logicalId(publishing.queue), "Arn"] },
      BatchSize: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    const queue = template.toJSON().Resources[logicalId(publishing.queue)];
    expect(queue.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { "Fn::GetAtt": [logicalId(publishing.deadLetters), "Arn"] }, maxReceiveCount: PUBLISH_MAX_RECEIVES });
    // Six times the function's 15 minutes.
    expect(queue.Properties.VisibilityTimeout).toBe(5400);
  });

  it("may read and write only what a build touches: no Scan, no deletes, no batch writes, S3 writes under versions/ only", () => {
    const actions = actionsOf(role);
    for (const forbidden of ["dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "s3:DeleteObject", "s3:DeleteObjectVersion"]) {
      expect(actions).not.toContain(forbidden);
    }
    expect(actions).toEqual(expect.arrayContaining(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "s3:PutObject"]));
  });

  it("the API may queue builds and knows the queue", () => {
    const apiRole = logicalId(stack.api.handler.role as never);
    expect(actionsOf(apiRole)).toEqual(expect.arrayContaining(["sqs:SendMessage"]));
    const fn = template.toJSON().Resources[logicalId(stack.api.handler)];
    expect(fn.Properties.Environment.Variables.VERSIONS_QUEUE_URL).toEqual({ Ref: logicalId(publishing.queue) });
  });
});
