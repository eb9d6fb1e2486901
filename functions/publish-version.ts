import { awsDeps } from "./aws-deps.ts";
import { createPublishVersionHandler } from "./handlers/publish-version.ts";

/** Lambda entry: versions queue → builds a Datanet version too large to build within an API request. */
export const handler = createPublishVersionHandler(awsDeps());
