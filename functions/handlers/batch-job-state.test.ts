import { Logger } from "@aws-lambda-powertools/logger";
import { describe, expect, it } from "vitest";
import { JobEvent } from "../../core/jobs/model.ts";
import type { QueueName } from "../../core/ports/queue.ts";
import { createBatchJobStateHandler } from "./batch-job-state.ts";
import { testContext } from "./test-events.ts";

/** A Batch Job State Change as EventBridge delivers it (trimmed to what Batch always sends, plus overrides). */
function stateChange(detail: Record<string, unknown>) {
  return {
    version: "0",
    id: "c8f9c4b5-76e5-d76a-f980-7011e206042b",
    "detail-type": "Batch Job State Change",
    source: "aws.batch",
    account: "123456789012",
    time: "2025-01-01T12:00:00Z",
    region: "us-east-1",
    resources: ["arn:aws:batch:us-east-1:123456789012:job/4c7599ae"],
    detail: {
      jobArn: "arn:aws:batch:us-east-1:123456789012:job/4c7599ae",
      jobName: "mf-job_01ABC-a2",
      jobId: "4c7599ae",
      jobQueue: "arn:aws:batch:us-east-1:123456789012:job-queue/mf-gpu",
      status: "FAILED",
      attempts: [],
      createdAt: 1735732000000,
      retryStrategy: { attempts: 3 },
      dependsOn: [],
      jobDefinition: "arn:aws:batch:us-east-1:123456789012:job-definition/mf-trainer:1",
      parameters: {},
      container: { image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/mf-trainer:latest", environment: [], resourceRequirements: [{ type: "GPU", value: "1" }] },
      tags: { "mf:job-id": "job_01ABC", "mf:attempt": "2" },
      platformCapabilities: ["EC2"],
      ...detail,
    },
  };
}

function setup() {
  const sent: { queue: QueueName; body: unknown }[] = [];
  const handler = createBatchJobStateHandler({ queue: { send: async (queue, body) => void sent.push({ queue, body: JSON.parse(JSON.stringify(body)) }) } }, { logger: new Logger({ logLevel: "SILENT" }) });
  const invoke = (event: unknown) => handler(event as never, testContext());
  return { sent, invoke };
}

describe("batch-job-state handler", () => {
  it("turns a FAILED job into an exited event with the container's exit code and Batch's reasons", async () => {
    const { sent, invoke } = setup();
    await invoke(stateChange({ statusReason: "Essential container in task exited", stoppedAt: 1735732999000, container: { exitCode: 1, reason: "OutOfMemoryError: Container killed due to memory usage" } }));
    expect(sent).toEqual([{ queue: "job-events", body: { type: "exited", jobId: "job_01ABC", attempt: 2, seq: 1735732999000, at: 1735732999000, exitCode: 1, reason: "Batch job 4c7599ae FAILED: Essential container in task exited: OutOfMemoryError: Container killed due to memory usage" } }]);
    expect(JobEvent.safeParse(sent[0]!.body).success).toBe(true);
  });

  it("reports SUCCEEDED with exit code 0, falling back to the last attempt's container and the event time", async () => {
    const { sent, invoke } = setup();
    await invoke(stateChange({ status: "SUCCEEDED", statusReason: "Essential container in task exited", attempts: [{ container: { exitCode: 143 }, statusReason: "Host EC2 (instance i-1) terminated." }, { container: { exitCode: 0 } }] }));
    expect(sent[0]!.body).toMatchObject({ type: "exited", exitCode: 0, at: Date.parse("2025-01-01T12:00:00Z") });
  });

  it("a job that never ran (timed out waiting for capacity) exits with no code", async () => {
    const { sent, invoke } = setup();
    await invoke(stateChange({ statusReason: "Job attempt duration exceeded timeout", container: {} }));
    expect(sent[0]!.body).toMatchObject({ exitCode: null, reason: "Batch job 4c7599ae FAILED: Job attempt duration exceeded timeout" });
  });

  it("finds the run from the job name when the tags are missing; ignores other jobs and non-final states", async () => {
    const { sent, invoke } = setup();
    await invoke(stateChange({ tags: undefined, jobName: "mf-job_XYZ-a7" }));
    expect(sent[0]!.body).toMatchObject({ jobId: "job_XYZ", attempt: 7 });
    await invoke(stateChange({ tags: undefined, jobName: "someone-elses-job" }));
    await invoke(stateChange({ status: "RUNNING" }));
    expect(sent).toHaveLength(1);
  });

  it("sends the same event for a duplicate delivery (the consumer applies it once)", async () => {
    const { sent, invoke } = setup();
    const event = stateChange({ stoppedAt: 1735732999000, container: { exitCode: 1 } });
    await invoke(event);
    await invoke(event);
    expect(sent[0]).toEqual(sent[1]);
  });

  it("refuses an event of another shape, and fails when the queue does", async () => {
    const { invoke } = setup();
    await expect(invoke({ "detail-type": "EC2 Instance State-change Notification", source: "aws.ec2", time: "x", detail: {} })).rejects.toThrow(/Invalid Batch Job State Change event/);
    const failing = createBatchJobStateHandler({ queue: { send: async () => Promise.reject(new Error("SQS down")) } }, { logger: new Logger({ logLevel: "SILENT" }) });
    await expect(failing(stateChange({ container: { exitCode: 1 } }) as never, testContext())).rejects.toThrow("SQS down");
  });
});
