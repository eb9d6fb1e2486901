import { describe, expect, it } from "vitest";
import { alice, bob, eventsIn } from "../../test/fakes/datanet-fixtures.ts";
import { jobTestDeps, publishedDatanet, SAMPLE_TEXTS, trainerEvents } from "../../test/fakes/job-fixtures.ts";
import { applyJobEvent } from "./apply-event.ts";
import { createJob, getJob } from "./jobs.ts";
import { activeJobKey } from "./keys.ts";
import { startJobAttempt } from "./start-job.ts";
import { sweepStaleJobs } from "./sweep.ts";

const MIN = 60_000;

async function queuedJob() {
  const deps = jobTestDeps();
  const version = await publishedDatanet(deps, bob, SAMPLE_TEXTS);
  const job = await createJob(deps, alice, { datanets: [{ id: version.datanetId, version: 1 }] });
  return { deps, job };
}

describe("sweepStaleJobs", () => {
  it("ends a silent attempt: stops the run, retries, and fails the job after the last attempt", async () => {
    const { deps, job } = await queuedJob();
    await startJobAttempt(deps, job.id);
    await applyJobEvent(deps, trainerEvents(job.id, 1).started());
    // A heartbeat younger than the timeout keeps it.
    deps.clock.advance(9 * MIN);
    expect(await sweepStaleJobs(deps)).toEqual({ timedOut: [], requeued: [] });
    deps.clock.advance(2 * MIN);
    expect(await sweepStaleJobs(deps)).toEqual({ timedOut: [job.id], requeued: [] });
    expect(deps.compute.cancelled).toEqual(["run-1"]);
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "QUEUED", error: "no heartbeat for 660 s" });

    for (const attempt of [2, 3]) {
      await startJobAttempt(deps, job.id);
      deps.clock.advance(11 * MIN);
      expect((await sweepStaleJobs(deps)).timedOut).toEqual([job.id]);
      expect(deps.compute.cancelled).toHaveLength(attempt);
    }
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "FAILED", attempts: 3, error: "no heartbeat for 660 s (gave up after 3 attempts)" });
    expect(eventsIn(deps.db).filter((e) => e.type === "job.failed")).toHaveLength(1);
    expect(await deps.tables.main.get(activeJobKey(job.id))).toBeUndefined();
    // Nothing left to sweep.
    deps.clock.advance(60 * MIN);
    expect(await sweepStaleJobs(deps)).toEqual({ timedOut: [], requeued: [] });
  });

  it("gives an attempt still STARTING its own, longer timeout (a GPU instance booting)", async () => {
    const { deps, job } = await queuedJob();
    await startJobAttempt(deps, job.id);
    deps.clock.advance(30 * MIN);
    expect((await sweepStaleJobs(deps, { startingTimeoutMs: 45 * MIN })).timedOut).toEqual([]);
    expect((await getJob(deps, alice, job.id)).status).toBe("STARTING");
    deps.clock.advance(16 * MIN);
    expect((await sweepStaleJobs(deps, { startingTimeoutMs: 45 * MIN })).timedOut).toEqual([job.id]);
  });

  it("progress keeps a long run alive", async () => {
    const { deps, job } = await queuedJob();
    await startJobAttempt(deps, job.id);
    const ev = trainerEvents(job.id, 1);
    for (let step = 1; step <= 6; step++) {
      deps.clock.advance(5 * MIN);
      await applyJobEvent(deps, ev.progress(step, 3));
      expect((await sweepStaleJobs(deps)).timedOut).toEqual([]);
    }
    expect((await getJob(deps, alice, job.id)).status).toBe("RUNNING");
  });

  it("re-sends a job queued too long (its message may be lost); a duplicate start is harmless", async () => {
    const { deps, job } = await queuedJob();
    deps.clock.advance(5 * MIN);
    expect((await sweepStaleJobs(deps)).requeued).toEqual([]);
    deps.clock.advance(6 * MIN);
    expect((await sweepStaleJobs(deps)).requeued).toEqual([job.id]);
    expect(deps.sent.filter((m) => m.queue === "jobs")).toHaveLength(2);
    // Not again right away: the re-send restarts the clock.
    expect((await sweepStaleJobs(deps)).requeued).toEqual([]);
    await startJobAttempt(deps, job.id);
    await startJobAttempt(deps, job.id);
    expect(deps.compute.submitted).toHaveLength(1);
  });

  it("fails an attempt that exited cleanly without reporting success, after a grace period", async () => {
    const { deps, job } = await queuedJob();
    await startJobAttempt(deps, job.id);
    await applyJobEvent(deps, trainerEvents(job.id, 1).exited(0));
    deps.clock.advance(MIN);
    expect((await sweepStaleJobs(deps)).timedOut).toEqual([]);
    deps.clock.advance(2 * MIN);
    expect((await sweepStaleJobs(deps)).timedOut).toEqual([job.id]);
    expect(await getJob(deps, alice, job.id)).toMatchObject({ status: "QUEUED", error: "the trainer exited (code 0) without reporting success" });
  });
});
