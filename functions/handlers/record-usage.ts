import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { UsageRecord } from "../../core/payments/usage.ts";
import { assignCall, type AssignDeps } from "../../core/settlement/assign-call.ts";
import { handlerTools, streamBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

/**
 * record-usage: the usage table's stream → `assignCall` for each newly
 * inserted usage record (sk RECORD) that charged something: the call joins
 * the first open settlement period, once, however often the record arrives.
 * Every other change of the table is skipped.
 */
export function createRecordUsageHandler(deps: AssignDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  const recordOne = async (record: DynamoDBRecord) => {
    if (record.eventName !== "INSERT" || !record.dynamodb?.NewImage) return;
    const item = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>);
    if (item.sk !== "RECORD" || item.kind !== "usage") return;
    try {
      const usage = UsageRecord.parse(item);
      const assigned = await assignCall(deps, usage);
      if (assigned) logger.info("usage assigned", { requestId: usage.requestId, period: assigned.period, duplicate: assigned.duplicate });
    } catch (error) {
      logger.error("record usage failed", { requestId: item.requestId, error: error as Error });
      throw error;
    }
  };
  return streamBatchHandler(recordOne, options);
}
