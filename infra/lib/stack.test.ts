import { describe, expect, it } from "vitest";
import { AWS_CUSTOM_RESOURCE_SINGLETON } from "./network.ts";
import { testOutdir, testStack } from "./test-stack.ts";

const { template, stack, nagReport } = testStack();

describe("ModelFactoryStack", () => {
  it("passes cdk-nag's AWS Solutions checks, every exception acknowledged with a reason", () => {
    const report = nagReport();
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.locations?.join(", ") ?? r.resourceLogicalId}`));
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it("runs every function on Node 24, ARM64, with tracing and a log group that expires", () => {
    // CDK's own AwsCustomResource provider (the S3 prefix-list lookup) is not one of ours.
    const functions = Object.entries(template.findResources("AWS::Lambda::Function"))
      .filter(([id, f]) => f.Properties.Runtime?.startsWith("nodejs24") && !id.startsWith(AWS_CUSTOM_RESOURCE_SINGLETON))
      .map(([, f]) => f);
    expect(functions).toHaveLength(14); // api, ingest, ingest-dead-letter, route-events, webhook-dispatch, chain-sync, start-job, job-events, job-sweep, batch-job-state, publish-version, record-usage, settle-epoch, chain-events
    // Each function logs and traces under its own service name (functions/logger.ts reads it).
    const services = functions.map((fn) => fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME);
    expect(new Set(services).size).toBe(functions.length);
    for (const fn of functions) {
      expect(fn.Properties.Architectures).toEqual(["arm64"]);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: "Active" });
    }
    for (const group of Object.values(template.findResources("AWS::Logs::LogGroup"))) expect(group.Properties.RetentionInDays).toBeGreaterThan(0);
  });

  it("lets no function or role Scan, BatchGetItem or use a DynamoDB wildcard, and UpdateItem only on the rate-limit counters", () => {
    // Asserting absence over every policy, so a new grantReadWriteData anywhere fails here.
    const forbidden = /^dynamodb:(\*|Scan|BatchGetItem|PartiQL.*|DeleteTable|UpdateTable|CreateTable|.*\*)$/;
    const rateLimits = stack.getLogicalId(stack.tables.rateLimits.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
    const policies = Object.entries(template.findResources("AWS::IAM::Policy"));
    expect(policies.length).toBeGreaterThan(10);
    const found = policies.flatMap(([id, p]) =>
      (p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).flatMap((s) =>
        [s.Action]
          .flat()
          .filter((a) => forbidden.test(a) || (a === "dynamodb:UpdateItem" && JSON.stringify(s.Resource) !== JSON.stringify({ "Fn::GetAtt": [rateLimits, "Arn"] })))
          .map((a) => `${id}: ${a}`),
      ),
    );
    expect(found).toEqual([]);
  });

  it("refuses a bad chain id or API origin", async () => {
    const { App } = await import("aws-cdk-lib");
    const { ModelFactoryStack } = await import("./stack.ts");
    const base = { apiOrigin: "https://api.example.com", chainId: 1, webOrigins: [] };
    expect(() => new ModelFactoryStack(new App({ outdir: testOutdir() }), "Bad1", { ...base, chainId: 0 })).toThrow(/chainId/);
    expect(() => new ModelFactoryStack(new App({ outdir: testOutdir() }), "Bad2", { ...base, apiOrigin: "nope" })).toThrow(/apiOrigin/);
  });
});
