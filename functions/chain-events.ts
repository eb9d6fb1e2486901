import { createChainEventsHandler } from "./handlers/chain-events.ts";
import { awsChainEventsDeps, once } from "./settlement-deps.ts";

/** Lambda entry: EventBridge schedule (every minute) → mirror PaymentEscrow's channel events into the usage table. */
export const handler = createChainEventsHandler(once(() => awsChainEventsDeps()));
