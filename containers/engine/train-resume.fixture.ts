// Child process for train.test.ts: trains a tiny adapter with checkpoints and writes the final
// adapter. With HANG_AT_STEP set it stops making progress at that step so the test can kill it.
import { writeFileSync } from "node:fs";
import { serializeAdapter } from "./peft.ts";
import { resumeFixture } from "./test-helpers.ts";
import { train } from "./train.ts";

const [ckptDir, outPath] = process.argv.slice(2) as [string, string];
const hangAt = Number(process.env.HANG_AT_STEP ?? 0);
const { model, adapter, data, cfg } = resumeFixture();
train(model, adapter, data, { ...cfg, checkpointDir: ckptDir }, (e) => {
  if (e.type === "checkpoint" || e.type === "resumed") process.stdout.write(`${e.type} ${e.step}\n`);
  if (e.type === "step" && e.step === hangAt) {
    process.stdout.write(`hanging ${e.step}\n`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000); // wait to be killed
  }
});
writeFileSync(outPath, serializeAdapter(adapter).weights);
