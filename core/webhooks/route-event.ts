import { createHash } from "node:crypto";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError } from "../errors.ts";
import type { DomainEvent } from "../events.ts";
import { QueueNames } from "../ports/queue.ts";
import { queryAll } from "../query-all.ts";
import { deliveryFromItem, deliveryItem, deliveryKey, webhookFromItem, type DeliveryRecord } from "./items.ts";
import type { WebhookMessage } from "./model.ts";

/**
 * Delivery id of an event to an endpoint: deterministic, so a replayed stream
 * record maps to the same delivery (and the same `webhook-id` header, which
 * receivers dedupe on).
 */
export function deliveryIdFor(eventId: string, webhookId: string): string {
  return "msg_" + createHash("sha256").update(`${eventId}\n${webhookId}`).digest("hex").slice(0, 32);
}

/**
 * Fans a domain event out to the webhook queue: one message per enabled
 * endpoint, of an account in the event's audience, subscribed to its type.
 * Records each delivery as `pending` first so it shows in the delivery log.
 * Safe to call twice for one event (a replayed stream record): a delivery whose
 * first message is recorded as queued is not queued again. Returns the
 * delivery ids of the event, queued now or before.
 */
export async function routeEvent(deps: Pick<CoreDeps, "tables" | "queue" | "clock">, event: DomainEvent): Promise<string[]> {
  const queued: string[] = [];
  for (const address of new Set(event.audience)) {
    for await (const item of queryAll(deps.tables.main, { pk: `ACCOUNT#${address}`, index: "gsi1", skPrefix: "WEBHOOK#" })) {
      const webhook = webhookFromItem(item);
      if (!webhook.enabled) continue;
      if (!webhook.events.includes("*") && !webhook.events.includes(event.type)) continue;
      const deliveryId = deliveryIdFor(event.id, webhook.id);
      const delivery = await recordPending(deps, deliveryId, webhook.id, event);
      // Sent again only when the first routing died before recording it as sent.
      if (delivery.status === "pending" && delivery.attemptCount === 0 && delivery.followUpQueuedFor !== 0) {
        const message: WebhookMessage = { deliveryId, webhookId: webhook.id, event, attempt: 1 };
        await deps.queue.send(QueueNames.webhooks, message);
        await markQueued(deps, delivery);
      }
      queued.push(deliveryId);
    }
  }
  return queued;
}

/** Creates the `pending` delivery, or returns the one a previous routing created. */
async function recordPending(
  deps: Pick<CoreDeps, "tables" | "clock">,
  deliveryId: string,
  webhookId: string,
  event: DomainEvent,
): Promise<DeliveryRecord> {
  const now = deps.clock.now();
  const at = new Date(now).toISOString();
  const delivery: DeliveryRecord = {
    deliveryId,
    webhookId,
    eventId: event.id,
    eventType: event.type,
    status: "pending",
    attempts: [],
    attemptCount: 0,
    createdAt: at,
    updatedAt: at,
  };
  try {
    await deps.tables.main.put(deliveryItem(delivery, now), { notExists: true });
    return delivery;
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
  const existing = await deps.tables.main.get(deliveryKey(webhookId, deliveryId));
  // Gone again (TTL) between the two calls: treat it as new.
  return existing ? deliveryFromItem(existing) : delivery;
}

/** Records that attempt 1 is on the queue, unless the dispatcher already moved the delivery on. */
async function markQueued(deps: Pick<CoreDeps, "tables" | "clock">, delivery: DeliveryRecord): Promise<void> {
  const now = deps.clock.now();
  try {
    await deps.tables.main.put(deliveryItem({ ...delivery, followUpQueuedFor: 0, updatedAt: new Date(now).toISOString() }, now), {
      equals: { attemptCount: 0, status: "pending" },
    });
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
}
