import type { ScheduledEvent } from "aws-lambda";
import { redeemClosingChannels, type EarlyRedeemDeps, type EarlyRedemption } from "../../core/payments/early-redeem.ts";
import { ChainUnavailableError } from "../../core/chain/errors.ts";
import { handlerTools, lambdaHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";
import { ScheduledEventSchema } from "./job-sweep.ts";

/**
 * redeem-closing-channels, on a schedule (locally a timer, beside the escrow
 * mirror): redeems now what was charged on channels whose withdrawal becomes
 * possible before the next settlement (core/payments/early-redeem.ts). A
 * chain that is down is not an error: the next run tries again, and the
 * voucher policy has already stopped taking vouchers on those channels.
 */
export function createRedeemClosingChannelsHandler(deps: EarlyRedeemDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  return lambdaHandler<ScheduledEvent, { redeemed: EarlyRedemption[]; stopped?: string }>("scheduled", ScheduledEventSchema, options, async () => {
    try {
      const redeemed = await redeemClosingChannels(deps);
      if (redeemed.length) logger.info("closing channels redeemed early", { redeemed: redeemed.map((r) => ({ ...r, upTo: r.upTo.toString() })) });
      return { redeemed };
    } catch (error) {
      if (error instanceof ChainUnavailableError) return { redeemed: [], stopped: "chain-unavailable" };
      throw error;
    }
  });
}
