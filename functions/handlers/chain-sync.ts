import type { Logger } from "@aws-lambda-powertools/logger";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { routeChainSyncChange } from "../../core/chain/route-change.ts";
import type { ChainSyncDeps } from "../../core/chain/sync-record.ts";
import type { Item } from "../../core/ports/tables.ts";
import { handlerTools, streamBatchHandler } from "../handler-setup.ts";

/**
 * The chain-sync Lambda: main table stream → `routeChainSyncChange` per
 * record, in order. A revert is recorded as a failed chain status (not an
 * error); anything else (RPC down, previous version not yet on chain) fails
 * the record so the stream retries it from there.
 */
export function createChainSyncHandler(deps: () => Promise<ChainSyncDeps>, logger: Logger = handlerTools().logger) {
  const handleRecord = async (record: DynamoDBRecord) => {
    if (!record.eventName || !record.dynamodb?.NewImage) return;
    // Built once per cold start (the signer key from Secrets Manager); a failed build fails the record, and the stream retries.
    const d = await deps();
    const newImage = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>) as Item;
    const status = await routeChainSyncChange(d, { eventName: record.eventName, newImage });
    if (status) logger.info("chain sync", { pk: newImage.pk, status: status.status, txHash: status.txHash, error: status.error });
  };
  return streamBatchHandler(handleRecord, { logger });
}
