import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { UsageRecord } from "../../core/payments/usage.ts";
import { assignCall, type AssignDeps } from "../../core/settlement/assign-call.ts";
import { finalizeAttribution, type CallAttributor } from "../../core/settlement/final-attribution.ts";
import { handlerTools, streamBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

export interface RecordUsageDeps extends AssignDeps {
  /** The asynchronous attribution method (gradient, on the embedded engine's base models); absent: span attribution is final. */
  attribute?: CallAttributor | undefined;
}

/**
 * record-usage: the usage table's stream → for each newly inserted usage
 * record (sk RECORD): first its final attribution (`finalizeAttribution`:
 * the asynchronous method runs once per request id), then, for a charged
 * call, `assignCall` with that attribution: the call joins the first open
 * settlement period, once, however often the record arrives. A call whose
 * attribution is late therefore settles in a later period, never by a
 * provisional split. Every other change of the table is skipped.
 */
export function createRecordUsageHandler(deps: RecordUsageDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  const log = (level: "info" | "warn", message: string, fields?: Record<string, unknown>) => logger[level](message, fields ?? {});
  const recordOne = async (record: DynamoDBRecord) => {
    if (record.eventName !== "INSERT" || !record.dynamodb?.NewImage) return;
    const item = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>);
    if (item.sk !== "RECORD" || item.kind !== "usage") return;
    try {
      const usage = UsageRecord.parse(item);
      const final = await finalizeAttribution({ usage: deps.usage, clock: deps.clock, attribute: deps.attribute, log }, usage);
      if (final.outcome === "computed") logger.info("attribution final", { requestId: usage.requestId, method: final.record.attribution.method });
      const assigned = await assignCall(deps, final.record);
      if (assigned) logger.info("usage assigned", { requestId: usage.requestId, period: assigned.period, duplicate: assigned.duplicate });
    } catch (error) {
      logger.error("record usage failed", { requestId: item.requestId, error: error as Error });
      throw error;
    }
  };
  return streamBatchHandler(recordOne, options);
}
