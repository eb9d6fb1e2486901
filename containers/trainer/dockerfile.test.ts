// The trainer's Dockerfile cannot be built here (no Docker engine), so its promises are checked
// as text: the GPU stage is the PyTorch CUDA image pinned by tag and digest with Node 24 and the
// torch backend; the default (last) stage is the CPU image with the engine; both carry the same
// sources; and the stage names are the ones the Batch construct documents.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BACKEND_COMPUTE } from "../../infra/lib/training-compute.ts";

const dockerfile = readFileSync(new URL("./Dockerfile", import.meta.url), "utf8");
const ignore = readFileSync(new URL("./Dockerfile.dockerignore", import.meta.url), "utf8");
/** The file's stages: name, base image and the lines after FROM. */
const stages = dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith("FROM ")).map((s) => {
  const [, image, name] = /^FROM (\S+)(?: AS (\S+))?/.exec(s)!;
  return { image: image!, name: name ?? "", body: s };
});
const stage = (name: string) => stages.find((s) => s.name === name)!;
const copies = (body: string) => [...body.matchAll(/^COPY (?!--from)(\S+) /gm)].map((m) => m[1]);

describe("trainer Dockerfile", () => {
  it("builds the GPU image on the PyTorch CUDA runtime pinned by tag and digest, with Node 24 and the torch backend", () => {
    const gpu = stage("gpu");
    expect(gpu.image).toMatch(/^pytorch\/pytorch:\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-runtime@sha256:[0-9a-f]{64}$/);
    expect(gpu.body).toMatch(/^COPY --from=node:24-slim \/usr\/local\/bin\/node \/usr\/local\/bin\/node$/m);
    expect(gpu.body).toMatch(/TRAINER_BACKEND=torch/);
    expect(gpu.body).toMatch(/^USER (?!root)\S+$/m);
  });

  it("keeps the CPU image, engine only, as the default target, with the same sources as the GPU image", () => {
    expect(stages.at(-1)!.name).toBe("cpu");
    expect(stage("cpu").image).toBe("node:24-slim");
    expect(stage("cpu").body).toMatch(/TRAINER_BACKEND=engine/);
    expect(copies(stage("cpu").body)).toEqual(copies(stage("gpu").body));
    expect(copies(stage("gpu").body)).toContain("containers/trainer"); // torch/ travels with it
    expect(ignore).not.toMatch(/\.py|torch/);
  });

  it("has the stages the Batch compute names for each backend", () => {
    for (const compute of Object.values(BACKEND_COMPUTE)) expect(stages.map((s) => s.name)).toContain(compute.imageTarget);
  });
});
