import { awsDeps } from "./aws-deps.ts";
import { createIngestDlqHandler } from "./handlers/ingest-dlq.ts";

/** Lambda entry: ingest dead-letter queue (S3 notifications ingest gave up on) → markUploadDeadLettered. */
export const handler = createIngestDlqHandler(awsDeps());
