import { describe, expect, it } from "vitest";
import type { Job } from "../../../core/jobs/model.ts";
import { ApiError } from "../api-error.ts";
import { followJob, type FollowApi } from "./follow-job.ts";
import { applyProgress, progressFraction } from "./job-state.ts";

function job(over: Partial<Job> = {}): Job {
  return {
    id: "job_1",
    owner: "0x0000000000000000000000000000000000000001",
    visibility: "public",
    status: "RUNNING",
    datanets: [],
    baseModel: "mf-tiny-sotu",
    lora: { rank: 8, alpha: 16, dropout: 0.05, targetModules: ["q_proj"] },
    training: { epochs: 3, learningRate: 0.002, batchSize: 8, gradientAccumulation: 1, warmupSteps: 10, weightDecay: 0, clipNorm: 1, evalFraction: 0.1, evalEvery: 25, earlyStopPatience: 0, checkpointEvery: 20, seed: 1 },
    progress: null,
    metrics: null,
    lossCurve: [],
    attempts: 1,
    error: null,
    adapterId: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    startedAt: null,
    finishedAt: null,
    ...over,
  };
}

/** A streamed SSE response, one chunk per string. */
function sse(...chunks: string[]): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

const progress = (step: number, extra = "") =>
  `event: progress\nid: ${step + 1}\ndata: {"status":"RUNNING","progress":{"step":${step},"totalSteps":4,"loss":${5 - step},"tokensPerSecond":100,"etaSeconds":3},"point":{"step":${step},"loss":${5 - step}${extra}}}\n\n`;
const noSleep = async () => {};

describe("followJob", () => {
  it("applies the stream's events, reconnects with Last-Event-ID, and ends on a terminal status", async () => {
    const lastIds: (string | undefined)[] = [];
    const streams = [
      // The first stream is closed by the server mid-run (its ~25 s limit)…
      () => sse(`event: job\nid: 1\nretry: 1000\ndata: ${JSON.stringify(job())}\n\n`, progress(1), progress(2, ',"evalLoss":3.5')),
      // …the second picks up after the last id and sees the end.
      () => sse(progress(4), `event: status\nid: 6\ndata: ${JSON.stringify(job({ status: "SUCCEEDED", adapterId: "ad_1" }))}\n\n`),
    ];
    const api: FollowApi = {
      async jobEvents(_id, lastEventId) {
        lastIds.push(lastEventId);
        const next = streams.shift();
        if (!next) throw new Error("no more streams");
        return next();
      },
      getJob: async () => { throw new Error("should not poll"); },
    };
    const seen: Job[] = [];
    const end = await followJob(api, "job_1", (j) => seen.push(j), new AbortController().signal, { sleep: noSleep });
    expect(end).toMatchObject({ status: "SUCCEEDED", adapterId: "ad_1" });
    expect(lastIds).toEqual([undefined, "3"]);
    expect(seen.map((j) => j.progress?.step ?? null)).toEqual([null, 1, 2, 4, null]);
    expect(seen[2]!.lossCurve).toEqual([{ step: 1, loss: 4 }, { step: 2, loss: 3, evalLoss: 3.5 }]);
  });

  it("polls the job when the stream keeps failing", async () => {
    const states = [job({ status: "RUNNING" }), job({ status: "RUNNING" }), job({ status: "RUNNING" }), job({ status: "EVALUATING" }), job({ status: "FAILED", error: "boom" })];
    let streamCalls = 0;
    const api: FollowApi = {
      async jobEvents() {
        streamCalls += 1;
        throw new TypeError("network error");
      },
      getJob: async () => states.shift()!,
    };
    const seen: string[] = [];
    const end = await followJob(api, "job_1", (j) => seen.push(j.status), new AbortController().signal, { sleep: noSleep, maxStreamFailures: 3 });
    expect(streamCalls).toBe(3);
    expect(end.error).toBe("boom");
    expect(seen).toEqual(["RUNNING", "RUNNING", "RUNNING", "EVALUATING", "FAILED"]);
  });

  it("gives up on a job that is not there (404)", async () => {
    const api: FollowApi = {
      jobEvents: async () => { throw new ApiError(404, { type: "https://x/problems/not-found", detail: "Job not found" }); },
      getJob: async () => job(),
    };
    await expect(followJob(api, "job_x", () => {}, new AbortController().signal, { sleep: noSleep })).rejects.toMatchObject({ status: 404 });
  });

  it("stops when the page is left", async () => {
    const controller = new AbortController();
    const api: FollowApi = {
      jobEvents: async () => sse(`event: job\nid: 1\ndata: ${JSON.stringify(job())}\n\n`),
      getJob: async () => job(),
    };
    const following = followJob(api, "job_1", () => controller.abort(), controller.signal);
    await expect(following).rejects.toBeDefined();
  });
});

describe("job state", () => {
  it("replaces the points from a repeated step on (a resumed attempt redoes them)", () => {
    const j = job({ lossCurve: [{ step: 1, loss: 5 }, { step: 2, loss: 4 }, { step: 3, loss: 3 }] });
    const next = applyProgress(j, { status: "RUNNING", progress: { step: 2, totalSteps: 9, loss: 4.5, tokensPerSecond: 1, etaSeconds: 1 }, point: { step: 2, loss: 4.5 } });
    expect(next.lossCurve).toEqual([{ step: 1, loss: 5 }, { step: 2, loss: 4.5 }]);
    expect(progressFraction(next)).toBeCloseTo(2 / 9);
    expect(progressFraction(job({ status: "SUCCEEDED" }))).toBe(1);
    expect(progressFraction(job({ status: "QUEUED" }))).toBeUndefined();
  });
});
