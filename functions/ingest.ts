import { awsDeps } from "./aws-deps.ts";
import { createIngestHandler } from "./handlers/ingest.ts";

/** Lambda entry: ingest queue (S3 notifications) → ingestObject. */
export const handler = createIngestHandler(awsDeps());
