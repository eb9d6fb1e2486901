// The engine against an independent PyTorch implementation (test/engine_torch_reference.py):
// logits, loss and LoRA gradients. Skipped where python3-torch is not installed.
import { describe, expect, it, onTestFinished } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { saveHfModel } from "../containers/engine/checkpoint.ts";
import { createLora, TARGETS } from "../containers/engine/lora.ts";
import { peftTensorName, saveAdapter } from "../containers/engine/peft.ts";
import { backward, createGrads, forwardTrain } from "../containers/engine/train-graph.ts";
import { tinyModel } from "../containers/engine/test-helpers.ts";

// Debian's python3-torch lives in /usr/bin/python3, which a pyenv "python3" on PATH may hide
const python = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import torch"]).status === 0);
const hasTorch = python !== undefined;
const script = fileURLToPath(new URL("./engine_torch_reference.py", import.meta.url));

describe.skipIf(!hasTorch)("engine vs PyTorch reference", () => {
  it("logits, loss and LoRA gradients agree", () => {
    const m = tinyModel(51, { vocabSize: 260, maxSeqLen: 16, tieEmbeddings: true });
    const a = createLora(m.config, { r: 3, alpha: 6, dropout: 0, targets: [...TARGETS] }, { seed: 5, randomB: true });
    const dir = mkdtempSync(join(tmpdir(), "engine-torch-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    saveHfModel(join(dir, "model"), m);
    saveAdapter(join(dir, "adapter"), a);
    const tokens = [5, 100, 7, 259, 3, 3, 42, 8], targets = [100, 7, 259, 3, -1, 42, 8, 1];
    const py = spawnSync(python!, [script, join(dir, "model"), join(dir, "adapter"), JSON.stringify({ tokens, targets })], { encoding: "utf8", maxBuffer: 1 << 26 });
    expect(py.status, py.stderr).toBe(0);
    const ref = JSON.parse(py.stdout) as { logits: number[]; loss: number; grads: Record<string, number[]> };
    const { loss, tape } = forwardTrain(m, a, tokens, targets, null);
    expect(loss).toBeCloseTo(ref.loss, 4);
    ref.logits.forEach((v, i) => expect(tape.logits[i]).toBeCloseTo(v, 3));
    const g = createGrads(m, a, false);
    backward(m, a, tape, targets, g);
    for (let l = 0; l < m.config.nLayers; l++)
      for (const t of TARGETS)
        for (const w of ["A", "B"] as const) {
          const want = ref.grads[peftTensorName(l, t, w)]!, got = g.lora![l]![t]![w];
          const scale = Math.max(...want.map(Math.abs));
          want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-4 * Math.max(scale, 1e-3)));
        }
  });
});
