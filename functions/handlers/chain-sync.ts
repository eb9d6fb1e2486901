import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { Logger } from "@aws-lambda-powertools/logger";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { routeChainSyncChange } from "../../core/chain/route-change.ts";
import type { ChainSyncDeps } from "../../core/chain/sync-record.ts";
import type { Item } from "../../core/ports/tables.ts";

/**
 * The chain-sync Lambda: main table stream → `routeChainSyncChange` per
 * record, in order. A revert is recorded as a failed chain status (not an
 * error); anything else (RPC down, previous version not yet on chain) fails
 * the record so the stream retries it from there.
 */
export function createChainSyncHandler(deps: () => Promise<ChainSyncDeps>, logger = new Logger({ serviceName: "chain-sync" })) {
  return async (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> => {
    const d = await deps();
    const handleRecord = async (record: DynamoDBRecord) => {
      if (!record.eventName || !record.dynamodb?.NewImage) return;
      const newImage = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>) as Item;
      const status = await routeChainSyncChange(d, { eventName: record.eventName, newImage });
      if (status) logger.info("chain sync", { pk: newImage.pk, status: status.status, txHash: status.txHash, error: status.error });
    };
    return processPartialResponse(event, handleRecord, new BatchProcessor(EventType.DynamoDBStreams), { context, processInParallel: false });
  };
}
