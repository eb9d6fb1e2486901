import { awsDeps } from "./aws-deps.ts";
import { createRouteEventsHandler } from "./handlers/route-events.ts";

/** Lambda entry: main table stream → routeEvent. */
export const handler = createRouteEventsHandler(awsDeps());
