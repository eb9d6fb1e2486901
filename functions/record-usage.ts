import { createRecordUsageHandler } from "./handlers/record-usage.ts";
import { awsRecordUsageDeps } from "./settlement-deps.ts";

/** Lambda entry: the usage table's stream → final attribution, then the call joins its settlement period (functions/handlers/record-usage.ts). */
export const handler = createRecordUsageHandler(awsRecordUsageDeps());
