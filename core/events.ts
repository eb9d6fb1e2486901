import type { Address } from "./account.ts";
import { newId } from "./ids.ts";
import type { Item, WriteOp } from "./ports/tables.ts";

/**
 * Domain events. A use case writes its event as an item of the main table in
 * the same transaction as the state change (transactional outbox); the main
 * table's change stream carries it to the webhook router. Nothing is
 * published unless the change itself committed.
 */
export const EventTypes = [
  "datanet.created",
  "upload.completed",
  "datanet.version.published",
  "datanet.version.onchain",
  "job.queued",
  "job.started",
  "job.progress",
  "job.succeeded",
  "job.failed",
  "job.cancelled",
  "adapter.created",
  "adapter.registered",
  "usage.settled",
  "epoch.published",
  "rewards.available",
] as const;
export type EventType = (typeof EventTypes)[number];

export interface DomainEvent {
  id: string;
  type: EventType;
  /** ISO-8601 instant. */
  occurredAt: string;
  /** Accounts entitled to receive the event (their webhooks get it). */
  audience: Address[];
  data: Record<string, unknown>;
}

/** Events stay in the table for a week (DynamoDB TTL attribute `ttl`, epoch seconds). */
const EVENT_TTL_SECONDS = 7 * 24 * 3600;

export const EVENT_PK_PREFIX = "EVENT#";

/** The write that records an event; put it in the same `transact` as the change. */
export function eventWrite(type: EventType, data: Record<string, unknown>, audience: Address[], now: number): WriteOp {
  const id = newId("evt", now);
  const item: Item = {
    pk: `${EVENT_PK_PREFIX}${id}`,
    sk: "EVENT",
    id,
    type,
    occurredAt: new Date(now).toISOString(),
    audience: [...new Set(audience)],
    data,
    ttl: Math.floor(now / 1000) + EVENT_TTL_SECONDS,
  };
  return { put: item, condition: { notExists: true } };
}

/** The event an item of the main table holds, or undefined for any other item. */
export function eventFromItem(item: Item | undefined): DomainEvent | undefined {
  if (!item || !item.pk.startsWith(EVENT_PK_PREFIX) || item.sk !== "EVENT") return undefined;
  return {
    id: item.id as string,
    type: item.type as EventType,
    occurredAt: item.occurredAt as string,
    audience: item.audience as Address[],
    data: item.data as Record<string, unknown>,
  };
}
