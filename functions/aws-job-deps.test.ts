import { describe, expect, it } from "vitest";
import { awsJobDeps } from "./aws-job-deps.ts";

const common = {
  TABLE_MAIN: "main",
  TABLE_CONTRIBUTIONS: "contributions",
  BUCKET: "bucket",
  API_ORIGIN: "https://api.example.com",
  CHAIN_ID: "8453",
  AWS_REGION: "us-east-1",
};

describe("awsJobDeps", () => {
  it("builds job deps with the Batch compute from the environment", () => {
    const deps = awsJobDeps({ ...common, JOBS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/jobs", BATCH_JOB_QUEUE: "gpu", BATCH_JOB_DEFINITION: "trainer" });
    expect(deps.compute.constructor.name).toBe("BatchCompute");
    expect(deps.config.apiOrigin).toBe("https://api.example.com");
  });

  it("names every missing variable", () => {
    expect(() => awsJobDeps(common)).toThrow(/JOBS_QUEUE_URL.*BATCH_JOB_QUEUE.*BATCH_JOB_DEFINITION/);
  });
});
