import type { Address } from "../account.ts";
import type { Item, Key } from "../ports/tables.ts";
import type { Delivery, Webhook } from "./model.ts";

/**
 * Table layout of webhooks (main table):
 * - endpoint: `pk WEBHOOK#{id}`, `sk WEBHOOK`; on gsi1 `ACCOUNT#{owner}` / `WEBHOOK#{id}`.
 * - delivery: `pk WEBHOOK#{id}`, `sk DELIVERY#{deliveryId}`; on gsi1
 *   `DELIVERIES#{webhookId}` / `{createdAt}#{deliveryId}` so they list newest first.
 */

/** An endpoint as stored: the public shape plus owner, secret and failure count. */
export interface WebhookRecord extends Webhook {
  owner: Address;
  secret: string;
  /** Deliveries given up on in a row; a success resets it. */
  consecutiveFailures: number;
}

export const webhookKey = (id: string): Key => ({ pk: `WEBHOOK#${id}`, sk: "WEBHOOK" });
export const deliveryKey = (webhookId: string, deliveryId: string): Key => ({
  pk: `WEBHOOK#${webhookId}`,
  sk: `DELIVERY#${deliveryId}`,
});

/** Deliveries are kept 30 days (DynamoDB TTL). */
const DELIVERY_TTL_SECONDS = 30 * 24 * 3600;

export function webhookItem(w: WebhookRecord): Item {
  return { ...webhookKey(w.id), ...w, gsi1pk: `ACCOUNT#${w.owner}`, gsi1sk: `WEBHOOK#${w.id}` };
}

export function webhookFromItem(item: Item): WebhookRecord {
  const { pk: _pk, sk: _sk, gsi1pk: _g, gsi1sk: _s, ...rest } = item;
  return rest as unknown as WebhookRecord;
}

/** The public view: no owner, secret or counters. */
export function publicWebhook(w: WebhookRecord): Webhook {
  return {
    id: w.id,
    url: w.url,
    events: w.events,
    enabled: w.enabled,
    createdAt: w.createdAt,
    ...(w.disabledAt ? { disabledAt: w.disabledAt } : {}),
    ...(w.disabledReason ? { disabledReason: w.disabledReason } : {}),
  };
}

/** A delivery as stored: the public shape plus the number of attempts made (for conditional writes). */
export interface DeliveryRecord extends Delivery {
  attemptCount: number;
  /**
   * n when the message for attempt n+1 has been put on the queue (0: the
   * first attempt's, by the router). Lets a duplicate message tell "follow-up
   * already queued" from "its worker died first", so it re-queues only then.
   */
  followUpQueuedFor?: number;
}

export function deliveryItem(d: DeliveryRecord, now: number): Item {
  return {
    ...deliveryKey(d.webhookId, d.deliveryId),
    ...d,
    gsi1pk: `DELIVERIES#${d.webhookId}`,
    gsi1sk: `${d.createdAt}#${d.deliveryId}`,
    ttl: Math.floor(now / 1000) + DELIVERY_TTL_SECONDS,
  };
}

export function deliveryFromItem(item: Item): DeliveryRecord {
  const { pk: _pk, sk: _sk, gsi1pk: _g, gsi1sk: _s, ttl: _t, ...rest } = item;
  return rest as unknown as DeliveryRecord;
}

export function publicDelivery(d: DeliveryRecord): Delivery {
  const { attemptCount: _a, followUpQueuedFor: _f, ...rest } = d;
  return rest;
}
