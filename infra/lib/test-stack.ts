import { readFileSync } from "node:fs";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import nag from "cdk-nag";
import { ModelFactoryStack } from "./stack.ts";

/**
 * The stack as the infra tests see it: built once per test file with bundling
 * skipped (the `aws:cdk:bundling-stacks` context set to none), so no esbuild
 * run per synth; `npm run synth` bundles for real. The feature flags are
 * cdk.json's, so the tests see what synth sees.
 */
export function testStack() {
  const cdkJson = JSON.parse(readFileSync(new URL("../../cdk.json", import.meta.url), "utf8")) as { context: Record<string, unknown> };
  const app = new App({ context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [] } });
  const stack = new ModelFactoryStack(app, "Test", {
    apiOrigin: "https://api.example.com",
    chainId: 8453,
    webOrigins: ["https://app.example.com"],
  });
  // cdk-nag is not registered on this app (a finding would abort every synth);
  // the nag test runs the pack over the stack itself.
  return { app, stack, template: Template.fromStack(stack), nagReport: () => new nag.AwsSolutionsChecks(app).validateScope(stack) };
}
