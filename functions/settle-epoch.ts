import { createSettleEpochHandler } from "./handlers/settle-epoch.ts";
import { awsSettleEpochDeps, once } from "./settlement-deps.ts";

/** Lambda entry: EventBridge schedule (every epoch) → settle every closed period: redeem, split, publish, announce. */
export const handler = createSettleEpochHandler(once(() => awsSettleEpochDeps()));
