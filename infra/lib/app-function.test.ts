import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import nag from "cdk-nag";
import { describe, expect, it } from "vitest";
import { AppFunction, WILDCARD_ONLY_ACTIONS } from "./app-function.ts";
import { Tables } from "./tables.ts";
import { testApp, testStack } from "./test-stack.ts";

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** One AppFunction reading a table's stream, with bundling skipped; `extra` may add grants before synth. */
function build(extra?: (fn: AppFunction) => void) {
  const app = testApp();
  const stack = new Stack(app, "FnTest");
  const tables = new Tables(stack, "Tables", { removalPolicy: RemovalPolicy.DESTROY });
  const fn = new AppFunction(stack, "Fn", {
    entry: "route-events",
    description: "test",
    environment: { TABLE_MAIN: "m", TABLE_CONTRIBUTIONS: "c", BUCKET: "b", API_ORIGIN: "https://api.example.com", CHAIN_ID: "1" },
    timeout: Duration.seconds(10),
    removalPolicy: RemovalPolicy.DESTROY,
  });
  fn.addEventSource(new DynamoEventSource(tables.main, { startingPosition: StartingPosition.TRIM_HORIZON }));
  extra?.(fn);
  const template = Template.fromStack(stack);
  const role = stack.getLogicalId(fn.role!.node.defaultChild as never);
  const policies = Object.entries(template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: role }] } })).map(([id, p]) => ({
    id,
    statements: p.Properties.PolicyDocument.Statement as Statement[],
  }));
  const findings = () =>
    new nag.AwsSolutionsChecks(app)
      .validateScope(stack)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${(r as { constructPath?: string }).constructPath ?? ""}`));
  return { stack, fn, template, policies, findings };
}

const onEverything = (s: Statement) => [s.Resource].flat().includes("*");

describe("AppFunction", () => {
  it("puts each action IAM grants only on * (X-Ray, ListStreams) in a policy of its own", () => {
    const { policies } = build();
    const wildcard = policies.filter((p) => p.statements.some(onEverything));
    const actions = wildcard.map((p) => p.statements.flatMap((s) => [s.Action].flat()));
    expect(actions.sort()).toEqual([["dynamodb:ListStreams"], ["xray:PutTelemetryRecords"], ["xray:PutTraceSegments"]]);
    // Each of those policies holds that one statement and nothing else.
    for (const p of wildcard) expect(p.statements).toHaveLength(1);
    // The stream's records are still read on the stream's ARN only.
    const rest = policies.filter((p) => !wildcard.includes(p)).flatMap((p) => p.statements);
    expect(rest.some(onEverything)).toBe(false);
    expect(rest.flatMap((s) => [s.Action].flat())).toEqual(expect.arrayContaining(["dynamodb:GetRecords", "dynamodb:GetShardIterator"]));
  });

  it("acknowledges IAM5[Resource::*] on each of those policies with its action's own reason, never on the function or role", () => {
    const { fn, findings } = build();
    const acknowledged = (construct: { node: { metadata: { type: string; data: unknown }[] } }) =>
      construct.node.metadata
        .filter((m) => m.type === "aws:cdk:acknowledged-rules")
        .flatMap((m) => Object.entries(m.data as Record<string, string>));
    const role = fn.role as unknown as { node: { children: { node: { id: string; metadata: { type: string; data: unknown }[] } }[] } };
    const reasons = role.node.children
      .filter((c) => /^(Xray|Dynamodb)/.test(c.node.id))
      .map((c) => acknowledged(c as never).filter(([id]) => id.endsWith("AwsSolutions-IAM5[Resource::*]")).map(([, reason]) => reason));
    expect(reasons.flat().sort()).toEqual(Object.values(WILDCARD_ONLY_ACTIONS).sort());
    for (const scope of [fn, fn.role]) {
      expect(acknowledged(scope as never).some(([id]) => id.includes("IAM5"))).toBe(false);
    }
    expect(findings()).toEqual([]);
  });

  it("leaves any other action on * in the default policy, where cdk-nag reports it", () => {
    const { findings, policies } = build((fn) => {
      fn.addToRolePolicy(new PolicyStatement({ actions: ["s3:ListAllMyBuckets"], resources: ["*"] }));
      // Mixed with an X-Ray action: still not waived.
      fn.addToRolePolicy(new PolicyStatement({ actions: ["xray:PutTraceSegments", "sqs:ListQueues"], resources: ["*"] }));
    });
    expect(findings()).toEqual([expect.stringMatching(/^AwsSolutions-IAM5\[Resource::\*\] at FnTest\/FnServiceRole\/DefaultPolicy/)]);
    const defaultPolicy = policies.find((p) => p.id.includes("DefaultPolicy"))!;
    expect(defaultPolicy.statements.filter(onEverything).flatMap((s) => [s.Action].flat()).sort()).toEqual(
      ["s3:ListAllMyBuckets", "sqs:ListQueues", "xray:PutTraceSegments"].sort(),
    );
  });

  it("in the stack, no function's default policy grants anything on *", () => {
    const { stack, template } = testStack();
    const functions = stack.node.findAll().filter((c): c is AppFunction => c instanceof AppFunction);
    expect(functions.length).toBeGreaterThanOrEqual(6);
    for (const fn of functions) {
      const role = stack.getLogicalId(fn.role!.node.defaultChild as never);
      for (const [id, p] of Object.entries(template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: role }] } }))) {
        const statements = p.Properties.PolicyDocument.Statement as Statement[];
        if (!statements.some(onEverything)) continue;
        expect(statements, `${fn.node.path}: ${id}`).toHaveLength(1);
        expect(Object.keys(WILDCARD_ONLY_ACTIONS)).toContain(statements[0]!.Action);
      }
    }
  });
});
