import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import type { CoreDeps } from "../../core/deps.ts";
import { eventFromItem } from "../../core/events.ts";
import type { Item } from "../../core/ports/tables.ts";
import { routeEvent, WebhookMessage } from "../../core/webhooks/index.ts";
import { handlerTools, streamBatchHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

/** A domain event as it must look to be routed (the event part of a webhook message). */
const DomainEventSchema = WebhookMessage.shape.event;

/**
 * Event router: the main table's stream → `routeEvent` for each newly inserted
 * outbox event item; every other change is skipped. Failures are reported by
 * SequenceNumber, so the stream resumes from the first failed record.
 */
export function createRouteEventsHandler(deps: CoreDeps, options: HandlerOptions = {}) {
  const { logger } = handlerTools(options);
  const routeRecord = async (record: DynamoDBRecord) => {
    if (record.eventName !== "INSERT" || !record.dynamodb?.NewImage) return;
    const item = unmarshall(record.dynamodb.NewImage as Record<string, AttributeValue>) as Item;
    const found = eventFromItem(item);
    if (!found) return;
    const event = DomainEventSchema.parse(found);
    const queued = await routeEvent(deps, event);
    logger.info("event routed", { eventId: event.id, type: event.type, deliveries: queued.length });
  };
  // In stream order, so webhooks are queued in the order the events happened.
  return streamBatchHandler(routeRecord, options);
}
