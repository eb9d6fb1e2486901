import { describe, expect, it } from "vitest";
import { LoraError, ModelError, SafetensorsError, TrainError } from "../engine/index.ts";
import { ModelFilesError } from "./blob-files.ts";
import { deserializeTrainerError, JobRejectedError, JobSpecError, serializeTrainerError, toTrainerError, TrainerError, TrainerInputError, TrainingCrashedError, UnexpectedTrainerError } from "./errors.ts";

describe("trainer errors", () => {
  it("set their own name and say whether a retry can help", () => {
    const input = new TrainerInputError("no usable records");
    expect(input).toBeInstanceOf(TrainerError);
    expect(input).toMatchObject({ name: "TrainerInputError", retryable: false, reason: "TrainerInputError: no usable records" });
    expect(new TrainingCrashedError(1)).toMatchObject({ name: "TrainingCrashedError", retryable: true, exitCode: 1, reason: "training worker exited with code 1 before finishing" });
    expect(new JobSpecError("no job spec at k", "k", { jobId: "job_1", attempt: 2 })).toMatchObject({ retryable: false, reason: "no job spec at k", job: { jobId: "job_1", attempt: 2 } });
  });

  it("classify the engine's and the model files' errors as the job's fault, anything else as retryable", () => {
    for (const E of [ModelError, LoraError, TrainError, SafetensorsError, ModelFilesError]) {
      const err = toTrainerError(new E("bad"));
      expect(err).toBeInstanceOf(JobRejectedError);
      expect(err).toMatchObject({ retryable: false, reason: `${new E("x").name}: bad` });
    }
    expect(toTrainerError(new Error("socket hang up"))).toMatchObject({ retryable: true, reason: "socket hang up" });
    expect(toTrainerError(new TypeError("x is undefined"))).toMatchObject({ retryable: true, reason: "TypeError: x is undefined" });
    expect(toTrainerError("thrown string")).toBeInstanceOf(UnexpectedTrainerError);
    const input = new TrainerInputError("kept");
    expect(toTrainerError(input)).toBe(input);
  });

  it("keep their classification across the worker thread", () => {
    const cases = [new LoraError("rank too big"), new Error("ENOSPC"), new TrainerInputError("empty")];
    const back = cases.map((e) => deserializeTrainerError(structuredClone(serializeTrainerError(e))));
    expect(back.map((e) => [e.name, e.retryable, e.reason])).toEqual([
      ["JobRejectedError", false, "LoraError: rank too big"],
      ["UnexpectedTrainerError", true, "ENOSPC"],
      ["TrainerInputError", false, "TrainerInputError: empty"],
    ]);
  });
});
