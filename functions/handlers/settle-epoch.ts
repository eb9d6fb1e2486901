import type { ScheduledEvent } from "aws-lambda";
import { settleClosedPeriods, type SettleResult, type SettlementDeps } from "../../core/settlement/settle-period.ts";
import { handlerTools, lambdaHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";
import { ScheduledEventSchema } from "./job-sweep.ts";

/**
 * settle-epoch, on a schedule (EventBridge: every epoch; locally a timer):
 * settles every closed period in order (redeem, split, publish, announce).
 * A chain that is down is not an error: the period waits for the next run.
 */
export function createSettleEpochHandler(deps: SettlementDeps | (() => Promise<SettlementDeps>), options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  return lambdaHandler<ScheduledEvent, SettleResult>("scheduled", ScheduledEventSchema, options, async () => {
    // On AWS built once per cold start (the key from Secrets Manager); a failed build fails the run, the next one retries.
    const result = await settleClosedPeriods(typeof deps === "function" ? await deps() : deps);
    if (result.settled.length) logger.info("periods settled", { settled: result.settled });
    if (result.stopped) logger.warn("settlement stopped", { reason: result.stopped });
    return result;
  });
}
