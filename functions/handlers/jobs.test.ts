import { Logger } from "@aws-lambda-powertools/logger";
import { describe, expect, it } from "vitest";
import { getJob } from "../../core/jobs/jobs.ts";
import { createJob } from "../../core/jobs/jobs.ts";
import { alice, bob } from "../../test/fakes/datanet-fixtures.ts";
import { jobTestDeps, publishedDatanet, SAMPLE_TEXTS, trainerEvents } from "../../test/fakes/job-fixtures.ts";
import { createJobEventsHandler } from "./job-events.ts";
import { createJobSweepHandler, scheduledEvent } from "./job-sweep.ts";
import { createStartJobHandler } from "./start-job.ts";
import { sqsEvent, sqsRecord, testContext } from "./test-events.ts";

const silent = { logger: new Logger({ logLevel: "SILENT" }) };

async function queuedJob() {
  const deps = jobTestDeps();
  const version = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
  const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
  return { deps, job };
}


describe("start-job handler", () => {
  it("starts each queued job once and reports malformed messages", async () => {
    const { deps, job } = await queuedJob();
    const handler = createStartJobHandler(deps, silent);
    const result = await handler(sqsEvent(sqsRecord("m1", { jobId: job.id }), sqsRecord("m2", { jobId: job.id }), sqsRecord("bad", { job: 1 })), testContext());
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: "bad" }] });
    expect(deps.compute.submitted).toHaveLength(1);
    expect((await getJob(deps, alice, job.id)).status).toBe("STARTING");
  });

  it("refuses an event that is not from SQS", async () => {
    const { deps } = await queuedJob();
    await expect(createStartJobHandler(deps, silent)({ Records: [{ nope: 1 }] } as never, testContext())).rejects.toThrow(/Invalid SQS event/);
  });
});

describe("job-events handler", () => {
  it("applies a batch's events in order and reports the malformed one", async () => {
    const { deps, job } = await queuedJob();
    await createStartJobHandler(deps, silent)(sqsEvent(sqsRecord("s", { jobId: job.id })), testContext());
    const ev = trainerEvents(job.id, 1);
    const handler = createJobEventsHandler(deps, silent);
    const started = ev.started();
    const result = await handler(
      sqsEvent(sqsRecord("a", started), sqsRecord("b", ev.progress(5, 3)), sqsRecord("c", started), sqsRecord("d", { type: "exploded" }), sqsRecord("e", ev.progress(6, 2.9))),
      testContext(),
    );
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: "d" }] });
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "RUNNING", progress: { step: 6 }, lossCurve: [{ step: 5 }, { step: 6 }] });
  });
});

describe("job-sweep handler", () => {
  it("sweeps on the schedule", async () => {
    const { deps, job } = await queuedJob();
    deps.clock.advance(11 * 60_000);
    const result = await createJobSweepHandler(deps, silent)(scheduledEvent(deps.clock.now()), testContext());
    expect(result).toEqual({ timedOut: [], requeued: [job.id] });
    await expect(createJobSweepHandler(deps, silent)({ Records: [] } as never, testContext())).rejects.toThrow(/Invalid scheduled event/);
  });
});
