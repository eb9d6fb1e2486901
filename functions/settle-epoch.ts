import type { Context, ScheduledEvent } from "aws-lambda";
import { createRedeemClosingChannelsHandler } from "./handlers/redeem-closing-channels.ts";
import { REDEEM_CLOSING_TASK } from "./handlers/settlement-tasks.ts";
import { createSettleEpochHandler } from "./handlers/settle-epoch.ts";
import { awsSettleEpochDeps, once } from "./settlement-deps.ts";
import type { SettlementDeps } from "../core/settlement/index.ts";

/** Seconds until settlement has redeemed what is charged now, at the latest: the local runtime's horizon. */
export const earlyRedeemHorizonSeconds = (deps: Pick<SettlementDeps, "epochSeconds" | "graceSeconds">): number => deps.epochSeconds + deps.graceSeconds + 60;

/**
 * Lambda entry for the settlement key's two jobs. Both send transactions from one key, so they
 * share this function (reserved concurrency 1: one run at a time, the key's nonces in order):
 *   - the every-epoch schedule → settle every closed period: redeem, split, publish, announce;
 *   - the every-minute schedule (`detail.task` = redeem-closing-channels) → redeem now what was
 *     charged on channels whose withdrawal becomes possible before the next settlement.
 */
export function createSettlementEntry(deps: () => Promise<SettlementDeps>) {
  const settle = createSettleEpochHandler(deps);
  let redeem: ReturnType<typeof createRedeemClosingChannelsHandler> | undefined;
  return async (event: ScheduledEvent, context: Context) => {
    if ((event.detail as { task?: unknown } | undefined)?.task !== REDEEM_CLOSING_TASK) return settle(event, context);
    const d = await deps();
    redeem ??= createRedeemClosingChannelsHandler({ usage: d.usage, chain: d.chain, clock: d.clock, horizonSeconds: earlyRedeemHorizonSeconds(d) });
    return redeem(event, context);
  };
}

export const handler = createSettlementEntry(once(() => awsSettleEpochDeps()));
