import { readFileSync } from "node:fs";
import { App, Annotations, Validations } from "aws-cdk-lib";
import nag from "cdk-nag";
import { ModelFactoryStack } from "../lib/stack.ts";
import { stageConfig } from "../lib/stage-config.ts";

// Settings come from cdk.json's context (override with `cdk deploy -c modelfactory:<key>=<value>`; README, Deploying to AWS).
const app = new App();
const context = (key: string): unknown => app.node.tryGetContext(`modelfactory:${key}`);
const { stackId, props } = stageConfig(context);
// The contracts' addresses as `npm run contracts:deploy -- --out <file>` wrote them (with rpcUrl when given).
const chainConfig = context("chainConfig");
const chain = typeof chainConfig === "string" ? JSON.parse(readFileSync(chainConfig, "utf8")) : undefined;

const stack = new ModelFactoryStack(app, stackId, {
  ...props,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  ...(chain ? { chain: { addresses: chain, rpcUrl: chain.rpcUrl } } : {}),
  // OpenLoRA: `-c modelfactory:inferenceCertificateArn=<ACM ARN>` for HTTPS, `-c modelfactory:gatewayImage=sha256:<digest>`
  inference: {
    ...(typeof context("inferenceCertificateArn") === "string" ? { certificateArn: context("inferenceCertificateArn") as string } : {}),
    ...(typeof context("gatewayImage") === "string" ? { gatewayImage: context("gatewayImage") as string } : {}),
  },
});
if (!chain) Annotations.of(stack).addWarningV2("modelfactory:no-chain", "No -c modelfactory:chainConfig=<file>: synthesised without chain sync.");

// cdk-nag v3 runs as a policy-validation plugin: any unacknowledged finding fails synth.
Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app, { verbose: true }));
app.synth();
