import { awsDeps } from "./aws-deps.ts";
import { createApiHandler } from "./handlers/api.ts";

/** Lambda entry: HTTP API → hono app. */
export const handler = createApiHandler(awsDeps());
