import { createHash } from "node:crypto";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError } from "../errors.ts";
import type { DomainEvent } from "../events.ts";
import { QueueNames } from "../ports/queue.ts";
import { deliveryItem, webhookFromItem, type DeliveryRecord } from "./items.ts";
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
 * Safe to call twice for one event. Returns the delivery ids queued.
 */
export async function routeEvent(deps: Pick<CoreDeps, "tables" | "queue" | "clock">, event: DomainEvent): Promise<string[]> {
  const queued: string[] = [];
  for (const address of new Set(event.audience)) {
    let cursor: string | undefined;
    do {
      const page = await deps.tables.main.query({
        pk: `ACCOUNT#${address}`,
        index: "gsi1",
        skPrefix: "WEBHOOK#",
        ...(cursor ? { cursor } : {}),
      });
      for (const webhook of page.items.map(webhookFromItem)) {
        if (!webhook.enabled) continue;
        if (!webhook.events.includes("*") && !webhook.events.includes(event.type)) continue;
        const deliveryId = deliveryIdFor(event.id, webhook.id);
        await recordPending(deps, deliveryId, webhook.id, event);
        const message: WebhookMessage = { deliveryId, webhookId: webhook.id, event, attempt: 1 };
        // Sent even when the delivery existed: the first routing may have died before sending.
        await deps.queue.send(QueueNames.webhooks, message);
        queued.push(deliveryId);
      }
      cursor = page.cursor;
    } while (cursor);
  }
  return queued;
}

async function recordPending(deps: Pick<CoreDeps, "tables" | "clock">, deliveryId: string, webhookId: string, event: DomainEvent) {
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
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
}
