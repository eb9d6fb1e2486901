import { createRoute } from "@hono/zod-openapi";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import { z } from "zod";
import type { CoreDeps } from "../../core/deps.ts";
import { DomainError } from "../../core/errors.ts";
import { jobFromItem, type JobItem } from "../../core/jobs/items.ts";
import { cancelJob, createJob, getJob, listJobs, loadReadableJob } from "../../core/jobs/jobs.ts";
import { jobKey } from "../../core/jobs/keys.ts";
import { CreateJobInput, Job, JobStatus } from "../../core/jobs/model.ts";
import { isTerminal } from "../../core/jobs/update-job.ts";
import type { TrainingCompute } from "../../core/ports/training-compute.ts";
import type { App } from "../env.ts";
import { bearer, CursorQuery, errorResponses, json, jsonBody, LimitQuery, optionalBearer, page } from "../openapi.ts";

/** Deps of the job routes: cancelling needs the training compute (absent, cancel answers 503). */
export type JobRouteDeps = CoreDeps & { compute?: TrainingCompute };

/** Options of the live job stream. */
export interface JobStreamOptions {
  /** How often the job record is read for changes. Default 1000 ms. */
  pollMs?: number;
  /**
   * How long one stream stays open before the server closes it (the client's
   * EventSource reconnects with Last-Event-ID). Default 25 s: behind API
   * Gateway, Lambda responses are buffered, so a stream must end for the
   * client to see anything, and must end before the 29 s integration timeout.
   */
  maxStreamMs?: number;
}

const JobParams = z.object({ id: z.string().min(1).max(64).meta({ description: "Job id", example: "job_01JD2Y3Z4X5W6V7T8S9R0Q1P2N" }) });

const createJobRoute = createRoute({
  method: "post",
  path: "/v1/jobs",
  tags: ["jobs"],
  summary: "Start a fine-tune job",
  description:
    "Fine-tunes a LoRA adapter of `baseModel` on the given published Datanet versions. Only `datanets` is required; every hyper-parameter has a default, and `epochs`, `batchSize`, `warmupSteps`, `evalEvery` and `checkpointEvery` left out are scaled to the data's records and tokens (the job shows the values used). " +
    "Unknown or unpublished versions answer `datanet-version-not-found` (404) or `datanet-version-not-published` (409); a private Datanet of another account is `not-found`; " +
    "invalid hyper-parameters are `validation-failed` (400) naming each field.",
  security: bearer,
  request: { body: jsonBody(CreateJobInput) },
  responses: { 201: json(Job, "The queued job"), ...errorResponses(400, 401, 404, 409, 413, 415) },
});

const listRoute = createRoute({
  method: "get",
  path: "/v1/jobs",
  tags: ["jobs"],
  summary: "List your jobs",
  description: "Your jobs, newest first.",
  security: bearer,
  request: { query: z.object({ status: JobStatus.optional(), cursor: CursorQuery, limit: LimitQuery }) },
  responses: { 200: json(page(Job, "JobPage"), "Your jobs"), ...errorResponses(400, 401) },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/jobs/{id}",
  tags: ["jobs"],
  summary: "Get a job",
  description: "Status, progress, metrics and loss curve (at most 500 points) of one of your jobs.",
  security: optionalBearer,
  request: { params: JobParams },
  responses: { 200: json(Job, "The job"), ...errorResponses(401, 404) },
});

const cancelRoute = createRoute({
  method: "post",
  path: "/v1/jobs/{id}/cancel",
  tags: ["jobs"],
  summary: "Cancel a job",
  description: "Stops the running attempt and marks the job CANCELLED. A job that has ended answers 409 `job-finished`.",
  security: bearer,
  request: { params: JobParams },
  responses: { 200: json(Job, "The cancelled job"), ...errorResponses(401, 404, 409, 503) },
});

const eventsRoute = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/events",
  tags: ["jobs"],
  summary: "Follow a job live (server-sent events)",
  description:
    "A `text/event-stream`: first a `job` event with the whole job, then a `progress` event (`{status, progress, point}`) whenever training advances " +
    "and a `status` event (the whole job) whenever the status changes; the stream closes after a terminal status. " +
    "Each event's `id` is the job's revision: reconnecting with `Last-Event-ID` skips the first `job` event if nothing changed since. " +
    "The server also closes the stream after about 25 s (in the cloud, API Gateway buffers Lambda responses), and EventSource reconnects on its own.",
  security: bearer,
  request: { params: JobParams, headers: z.object({ "last-event-id": z.string().max(32).optional() }) },
  responses: {
    200: { description: "Server-sent events", content: { "text/event-stream": { schema: z.string() } } },
    ...errorResponses(401, 404),
  },
});

/** The job routes: create, list, get, cancel, and the live event stream. */
export function jobRoutes(app: App, deps: JobRouteDeps, options: JobStreamOptions = {}): void {
  const pollMs = options.pollMs ?? 1000;
  const maxStreamMs = options.maxStreamMs ?? 25_000;

  // The body as sent (the route has validated it): createJob scales to the data what the caller left out.
  app.openapi(createJobRoute, async (c) => c.json(await createJob(deps, c.get("caller"), await c.req.json()), 201));
  app.openapi(listRoute, async (c) => {
    const { status, cursor, limit } = c.req.valid("query");
    return c.json(await listJobs(deps, c.get("caller"), { status, cursor, limit }), 200);
  });
  app.openapi(getRoute, async (c) => c.json(await getJob(deps, c.get("caller"), c.req.valid("param").id), 200));
  app.openapi(cancelRoute, async (c) => {
    const compute = deps.compute;
    if (!compute) throw new DomainError("compute-unavailable", 503, "This deployment has no training compute configured");
    return c.json(await cancelJob({ ...deps, compute }, c.get("caller"), c.req.valid("param").id), 200);
  });
  app.openapi(eventsRoute, async (c) => {
    // Access is checked before the stream starts, so a stranger gets a plain 404.
    const first = await loadReadableJob(deps, c.get("caller"), c.req.valid("param").id);
    const lastEventId = c.req.valid("header")["last-event-id"];
    return streamSSE(c, (stream) => followJob(deps, stream, first, { lastEventId, pollMs, maxStreamMs }));
  });
}

/** Writes the job's changes to the stream until it ends, the client leaves, or the stream's time is up. */
async function followJob(
  deps: CoreDeps,
  stream: SSEStreamingApi,
  first: JobItem,
  options: { lastEventId: string | undefined; pollMs: number; maxStreamMs: number },
): Promise<void> {
  let aborted = false;
  stream.onAbort(() => {
    aborted = true;
  });
  const deadline = Date.now() + options.maxStreamMs;
  let job = first;
  if (options.lastEventId !== String(job.rev)) {
    await stream.writeSSE({ event: "job", id: String(job.rev), data: JSON.stringify(jobFromItem(job)), retry: 1000 });
  }
  let sent = job;
  while (!aborted && !isTerminal(job.status) && Date.now() < deadline) {
    await stream.sleep(options.pollMs);
    const next = (await deps.tables.main.get(jobKey(job.id))) as JobItem | undefined;
    if (!next || next.rev === sent.rev) continue;
    job = next;
    const id = String(job.rev);
    if (job.progress && (job.progress.step !== sent.progress?.step || job.lossCurve.length !== sent.lossCurve.length)) {
      await stream.writeSSE({ event: "progress", id, data: JSON.stringify({ status: job.status, progress: job.progress, point: job.lossCurve.at(-1) ?? null }) });
    }
    if (job.status !== sent.status || job.attempts !== sent.attempts) {
      await stream.writeSSE({ event: "status", id, data: JSON.stringify(jobFromItem(job)) });
    }
    sent = job;
  }
}
