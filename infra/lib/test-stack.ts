import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import nag from "cdk-nag";
import { afterAll } from "vitest";
import type { ChainAddresses } from "../../contracts/deploy.ts";
import { ModelFactoryStack, type ModelFactoryStackProps } from "./stack.ts";

/** Contract addresses as a deploy to chain 8453 would write them (the infra tests' fixture). */
export const exampleChainAddresses: ChainAddresses = {
  chainId: 8453,
  datanetRegistry: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  adapterRegistry: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
  paymentEscrow: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
  rewardsDistributor: "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
  token: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
  deployer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  fromBlock: 123,
};

// Every App makes its cloud assembly folder when it is built, in a fresh temp folder unless
// given one, and nothing removes those. The tests give each App one of these instead, removed
// after the test file that imports this module (its hook is registered as the file is collected;
// vitest's pool workers are ended without an exit event). Not by CDK_OUTDIR: with that
// variable set every App synthesizes again at beforeExit, after the folders are gone.
const outdirs: string[] = [];
afterAll(() => { for (const d of outdirs.splice(0)) rmSync(d, { recursive: true, force: true }); });
/** A temp folder for one App's cloud assembly (`new App({ outdir: testOutdir() })`), removed after the test file. */
export function testOutdir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cdk.out-test-"));
  outdirs.push(dir);
  return dir;
}

/**
 * An App as the infra tests build one: cdk.json's feature flags (so the tests see what synth
 * sees), bundling skipped (the `aws:cdk:bundling-stacks` context set to none: no esbuild run per
 * synth; `npm run synth` bundles for real), its assembly in a testOutdir.
 */
export function testApp(): App {
  const cdkJson = JSON.parse(readFileSync(new URL("../../cdk.json", import.meta.url), "utf8")) as { context: Record<string, unknown> };
  return new App({ outdir: testOutdir(), context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [] } });
}

/** The stack as the infra tests see it, in a testApp: built once per test file. */
export function testStack(overrides: Partial<ModelFactoryStackProps> = {}) {
  const app = testApp();
  const stack = new ModelFactoryStack(app, "Test", {
    apiOrigin: "https://api.example.com",
    chainId: 8453,
    webOrigins: ["https://app.example.com"],
    chain: { addresses: exampleChainAddresses, rpcUrl: "https://mainnet.base.org" },
    ...overrides,
  });
  // cdk-nag is not registered on this app (a finding would abort every synth);
  // the nag test runs the pack over the stack itself.
  return { app, stack, template: Template.fromStack(stack), nagReport: () => new nag.AwsSolutionsChecks(app).validateScope(stack) };
}
