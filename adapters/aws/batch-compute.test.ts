import { BatchClient, SubmitJobCommand, TerminateJobCommand } from "@aws-sdk/client-batch";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { BatchCompute, batchJobName, parseBatchJobName } from "./batch-compute.ts";

const batch = new BatchClient({ region: "us-east-1" });
const mock = mockClient(batch);
const compute = new BatchCompute(batch, { jobQueue: "mf-gpu", jobDefinition: "mf-trainer" });

beforeEach(() => {
  mock.reset();
  mock.on(SubmitJobCommand).resolves({ jobId: "b-123", jobName: "x", jobArn: "arn:aws:batch:us-east-1:1:job/b-123" });
  mock.on(TerminateJobCommand).resolves({});
});

describe("BatchCompute", () => {
  it("submits one Batch job per attempt with the spec key, a job name and tags naming the run", async () => {
    const out = await compute.submit({ jobId: "job_01ABC", attempt: 2, specKey: "jobs/job_01ABC/spec.json" });
    expect(out).toEqual({ externalId: "b-123" });
    expect(mock.commandCalls(SubmitJobCommand)[0]!.args[0].input).toEqual({
      jobName: "mf-job_01ABC-a2",
      jobQueue: "mf-gpu",
      jobDefinition: "mf-trainer",
      containerOverrides: { environment: [{ name: "JOB_SPEC_KEY", value: "jobs/job_01ABC/spec.json" }] },
      tags: { "mf:job-id": "job_01ABC", "mf:attempt": "2" },
      propagateTags: true,
    });
  });

  it("fails loudly when Batch returns no job id, and passes Batch errors on", async () => {
    mock.on(SubmitJobCommand).resolves({});
    await expect(compute.submit({ jobId: "j", attempt: 1, specKey: "k" })).rejects.toThrow(/no job id/);
    mock.on(SubmitJobCommand).rejects(Object.assign(new Error("queue disabled"), { name: "ClientException" }));
    await expect(compute.submit({ jobId: "j", attempt: 1, specKey: "k" })).rejects.toThrow("queue disabled");
  });

  it("cancels by TerminateJob with a reason", async () => {
    await compute.cancel("b-123");
    expect(mock.commandCalls(TerminateJobCommand)[0]!.args[0].input).toEqual({ jobId: "b-123", reason: "Cancelled by the Model Factory" });
  });

  it("job names stay within Batch's alphabet and length, and parse back", () => {
    expect(parseBatchJobName(batchJobName("job_01ABC", 3))).toEqual({ jobId: "job_01ABC", attempt: 3 });
    const long = batchJobName("x".repeat(200) + ".y", 12);
    expect(long).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);
    expect(long.endsWith("-a12")).toBe(true);
    expect(parseBatchJobName("someone-elses-job")).toBeUndefined();
  });
});
