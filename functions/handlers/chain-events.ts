import type { ScheduledEvent } from "aws-lambda";
import { mirrorChannels } from "../../core/payments/mirror-channels.ts";
import type { EscrowEventSource } from "../../core/ports/escrow-events.ts";
import type { TableStore } from "../../core/ports/tables.ts";
import { handlerTools, lambdaHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";
import { ScheduledEventSchema } from "./job-sweep.ts";

/**
 * chain-events, on a schedule (EventBridge every minute; locally every few
 * seconds): mirrors PaymentEscrow's channel events into the usage table, so
 * that verifying a voucher never reads the chain.
 */
type ChainEventsDeps = { usage: TableStore; events: EscrowEventSource };

export function createChainEventsHandler(deps: ChainEventsDeps | (() => Promise<ChainEventsDeps>), options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  return lambdaHandler<ScheduledEvent, { applied: number; nextBlock: number }>("scheduled", ScheduledEventSchema, options, async () => {
    const d = typeof deps === "function" ? await deps() : deps;
    const result = await mirrorChannels(d.usage, d.events);
    if (result.applied) logger.info("escrow events mirrored", result);
    return result;
  });
}
