// A CDK App made without an outdir synthesizes into a fresh `cdk.out*` folder under the OS temp
// dir and never removes it: the infra tests left one per App, every run. Each test file gets one
// folder of its own (files run in parallel, an assembly's manifest is rewritten on each synth),
// removed when the file ends.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

const outdir = mkdtempSync(join(tmpdir(), "mf-cdk-test-"));
process.env.CDK_OUTDIR = outdir;
afterAll(() => rmSync(outdir, { recursive: true, force: true }));
