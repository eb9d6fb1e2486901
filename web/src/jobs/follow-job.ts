import type { Job } from "../../../core/jobs/model.ts";
import type { ApiClient } from "../api-client.ts";
import { ApiError } from "../api-error.ts";
import { applyProgress, isTerminalStatus, type ProgressEvent } from "./job-state.ts";
import { createParser, type EventSourceMessage } from "eventsource-parser";

/** What following a job needs from the API (the client, or a fake in tests). */
export type FollowApi = Pick<ApiClient, "jobEvents" | "getJob">;

export interface FollowOptions {
  /** Delay between polls once the stream is given up, and before a reconnect. Default 1000 ms. */
  pollMs?: number;
  /** Stream failures in a row before switching to polling for good. Default 3. */
  maxStreamFailures?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Follows a job live until it ends, calling `onJob` with each new state.
 * Reads the job's server-sent events through fetch (reconnecting with
 * Last-Event-ID when the server closes a stream, as it does every ~25 s);
 * when the stream keeps failing it polls GET /v1/jobs/{id} every second.
 * Resolves with the terminal job; rejects on abort, 401 or 404.
 */
export async function followJob(api: FollowApi, jobId: string, onJob: (job: Job) => void, signal: AbortSignal, options: FollowOptions = {}): Promise<Job> {
  const pollMs = options.pollMs ?? 1000;
  const maxFailures = options.maxStreamFailures ?? 3;
  const sleep = options.sleep ?? abortableSleep;
  let job: Job | undefined;
  let lastEventId: string | undefined;
  let failures = 0;

  const update = (next: Job) => {
    job = next;
    onJob(next);
  };

  while (failures < maxFailures) {
    signal.throwIfAborted();
    let retry = pollMs;
    try {
      const res = await api.jobEvents(jobId, lastEventId, signal);
      if (!res.body) throw new Error("This browser cannot read a streamed response");
      // eventsource-parser (the WHATWG parsing rules); the events it completes are applied in order after each chunk.
      const events: EventSourceMessage[] = [];
      const parser = createParser({
        onEvent: (ev) => void events.push(ev),
        onRetry: (ms) => void (retry = ms),
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        parser.feed(chunk.value);
        for (const ev of events.splice(0)) {
          // An id carries over to later events: what a reconnect sends as Last-Event-ID.
          if (ev.id !== undefined) lastEventId = ev.id;
          if (ev.event === "job" || ev.event === "status") update(JSON.parse(ev.data) as Job);
          else if (ev.event === "progress" && job) update(applyProgress(job, JSON.parse(ev.data) as ProgressEvent));
        }
      }
      failures = 0;
    } catch (err) {
      if (signal.aborted || (err instanceof ApiError && (err.status === 401 || err.status === 404))) throw err;
      failures += 1;
      // The stream broke: catch up with one read so nothing is missed meanwhile.
      update(await api.getJob(jobId, signal));
    }
    if (job && isTerminalStatus(job.status)) return job;
    await sleep(retry, signal);
  }

  // Polling fallback: the stream is not getting through (a proxy that buffers it, say).
  for (;;) {
    update(await api.getJob(jobId, signal));
    if (job && isTerminalStatus(job.status)) return job;
    await sleep(pollMs, signal);
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
