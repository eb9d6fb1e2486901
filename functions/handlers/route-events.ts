import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import middy from "@middy/core";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import type { CoreDeps } from "../../core/deps.ts";
import { eventFromItem } from "../../core/events.ts";
import type { Item } from "../../core/ports/tables.ts";
import { routeEvent, WebhookMessage } from "../../core/webhooks/index.ts";
import { type HandlerOptions, logger as sharedLogger } from "../logger.ts";
import { parseEvent } from "../middleware/parse-event.ts";
import { DynamoStreamEventSchema } from "./events.ts";

/** A domain event as it must look to be routed (the event part of a webhook message). */
const DomainEventSchema = WebhookMessage.shape.event;

/**
 * Event router: the main table's stream → `routeEvent` for each newly inserted
 * outbox event item; every other change is skipped. Failures are reported by
 * SequenceNumber, so the stream resumes from the first failed record.
 */
export function createRouteEventsHandler(deps: CoreDeps, options: HandlerOptions = {}) {
  const logger = options.logger ?? sharedLogger;
  const routeRecord = async (record: DynamoDBRecord) => {
    if (record.eventName !== "INSERT" || !record.dynamodb?.NewImage) return;
    const item = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>) as Item;
    const found = eventFromItem(item);
    if (!found) return;
    const event = DomainEventSchema.parse(found);
    const queued = await routeEvent(deps, event);
    logger.info("event routed", { eventId: event.id, type: event.type, deliveries: queued.length });
  };
  return middy<DynamoDBStreamEvent, DynamoDBBatchResponse>()
    .use(injectLambdaContext(logger))
    .use(parseEvent("DynamoDB stream", DynamoStreamEventSchema))
    .handler((event, context) =>
      // In stream order, so webhooks are queued in the order the events happened.
      processPartialResponse(event, routeRecord, new BatchProcessor(EventType.DynamoDBStreams), {
        context,
        processInParallel: false,
      }),
    );
}
