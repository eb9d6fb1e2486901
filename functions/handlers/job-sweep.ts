import type { ScheduledEvent } from "aws-lambda";
import { z } from "zod";
import type { JobDeps } from "../../core/jobs/deps.ts";
import { sweepStaleJobs, type SweepOptions, type SweepResult } from "../../core/jobs/sweep.ts";
import { handlerTools, lambdaHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

/** The parts of an EventBridge scheduled event the sweeper relies on. */
export const ScheduledEventSchema = z.looseObject({ "detail-type": z.literal("Scheduled Event"), time: z.string() });

/** A scheduled event as EventBridge delivers it, for runtimes that drive the sweeper with their own timer (local). */
export function scheduledEvent(time: number): ScheduledEvent {
  return {
    version: "0",
    id: `sweep-${time}`,
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: "000000000000",
    time: new Date(time).toISOString(),
    region: "local",
    resources: [],
    detail: {},
  };
}

/**
 * The job sweeper, run on a schedule (EventBridge rule, every minute or so;
 * locally a timer): `sweepStaleJobs`, so no job stays RUNNING without a
 * heartbeat and no QUEUED job waits on a lost message.
 */
export function createJobSweepHandler(deps: JobDeps, options: HandlerOptions & { sweep?: SweepOptions } = {}) {
  const { logger } = handlerTools(options);
  return lambdaHandler<ScheduledEvent, SweepResult>("scheduled", ScheduledEventSchema, options, async () => {
    const result = await sweepStaleJobs(deps, options.sweep);
    if (result.timedOut.length || result.requeued.length) logger.warn("job sweep", { ...result });
    return result;
  });
}
