import { App, Validations } from "aws-cdk-lib";
import nag from "cdk-nag";
import { ModelFactoryStack } from "../lib/stack.ts";

// Settings come from cdk.json's context (override with `cdk synth -c key=value`).
const app = new App();
const context = (key: string): unknown => app.node.tryGetContext(`modelfactory:${key}`);
const webOrigins = context("webOrigins");

new ModelFactoryStack(app, "ModelFactory", {
  description: "Model Factory & OpenLoRA: Datanets slice",
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  apiOrigin: String(context("apiOrigin")),
  chainId: Number(context("chainId")),
  webOrigins: typeof webOrigins === "string" ? webOrigins.split(",") : (webOrigins as string[]),
});

// cdk-nag v3 runs as a policy-validation plugin: any unacknowledged finding fails synth.
Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app, { verbose: true }));
app.synth();
