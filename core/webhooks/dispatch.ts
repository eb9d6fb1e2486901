import { Webhook as Signer } from "standardwebhooks";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, TransactionCanceledError } from "../errors.ts";
import { QueueNames } from "../ports/queue.ts";
import type { WriteOp } from "../ports/tables.ts";
import type { WebhookResponse, WebhookSender } from "../ports/webhook-sender.ts";
import { retryDelaySeconds } from "./backoff.ts";
import {
  deliveryFromItem,
  deliveryItem,
  deliveryKey,
  webhookFromItem,
  webhookItem,
  webhookKey,
  type DeliveryRecord,
  type WebhookRecord,
} from "./items.ts";
import type { DeliveryAttempt, WebhookMessage } from "./model.ts";
import { checkWebhookUrlShape } from "./url-policy.ts";

export interface DispatchOptions {
  /** Source of jitter in [0, 1); Math.random by default. */
  random?: () => number;
  /** Attempts per delivery before it is dead-lettered (default 8). */
  maxAttempts?: number;
  /** Deliveries given up on in a row before the endpoint is disabled (default 5). */
  disableAfterFailures?: number;
  /** Per-attempt timeout in milliseconds (default 10 000). */
  timeoutMs?: number;
}

/** What one dispatch did, for logs and tests. */
export type DispatchOutcome =
  | { result: "delivered"; statusCode: number }
  | { result: "retrying"; delaySeconds: number; error: string }
  | { result: "dead-lettered"; error: string; endpointDisabled: boolean }
  | { result: "skipped"; reason: string };

/** What the dispatcher needs: the core ports it writes to and the HTTP side of delivery. */
export type WebhookDispatchDeps = Pick<CoreDeps, "tables" | "queue" | "clock" | "config"> & { webhookSender: WebhookSender };
type Deps = WebhookDispatchDeps;

/**
 * Delivers one webhook message (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature: v1,<base64>`), records the
 * attempt on the delivery, and on failure re-queues it with backoff or, after
 * the last attempt, dead-letters it and counts a failure against the endpoint.
 * A message for a delivery already done, an attempt already made (whose
 * follow-up is recorded as queued), or an endpoint since deleted is a no-op.
 *
 * Crash safety: the attempt is saved first, then its follow-up (the retry, or
 * the dead-letter message) is sent, then recorded on the delivery. A
 * redelivered copy of the latest attempt finds the follow-up unrecorded and
 * sends it again; once recorded, copies do nothing, so one duplicate message
 * never starts a second retry chain.
 */
export async function dispatchWebhook(deps: Deps, message: WebhookMessage, options: DispatchOptions = {}): Promise<DispatchOutcome> {
  const webhookItemNow = await deps.tables.main.get(webhookKey(message.webhookId));
  if (!webhookItemNow) return { result: "skipped", reason: "endpoint deleted" };
  const webhook = webhookFromItem(webhookItemNow);

  const existing = await deps.tables.main.get(deliveryKey(message.webhookId, message.deliveryId));
  const stored = existing ? deliveryFromItem(existing) : undefined;
  const delivery = stored ?? newDelivery(message, deps.clock.now());
  if (delivery.status !== "pending") return { result: "skipped", reason: `delivery already ${delivery.status}` };

  if (!webhook.enabled) {
    await saveDelivery(deps, stored, { ...delivery, status: "failed" });
    return { result: "skipped", reason: "endpoint disabled" };
  }

  if (delivery.attemptCount >= message.attempt) {
    const alreadyMade = { result: "skipped", reason: `attempt ${message.attempt} already made` } as const;
    if (delivery.attemptCount > message.attempt || delivery.followUpQueuedFor === message.attempt) return alreadyMade;
    // A redelivered copy of the latest attempt whose worker died before recording the follow-up.
    const last = delivery.attempts.at(-1);
    return followUp(deps, webhook, delivery, message, last?.error ?? `HTTP ${last?.statusCode}`, options);
  }

  const attempt = await send(deps, webhook, message, options);
  const succeeded = attempt.statusCode !== undefined && attempt.statusCode >= 200 && attempt.statusCode < 300;
  // A failed attempt stays `pending` until its follow-up is on a queue (see followUp).
  const after: DeliveryRecord = {
    ...delivery,
    status: succeeded ? "succeeded" : "pending",
    attempts: [...delivery.attempts, attempt],
    attemptCount: message.attempt,
  };
  const saved = await saveDelivery(deps, stored, after);
  if (!saved) return { result: "skipped", reason: `attempt ${message.attempt} recorded concurrently` };

  if (succeeded) {
    await updateEndpoint(deps, webhook.id, (w) => (w.consecutiveFailures === 0 ? undefined : { ...w, consecutiveFailures: 0 }));
    return { result: "delivered", statusCode: attempt.statusCode! };
  }
  return followUp(deps, webhook, saved, message, attempt.error ?? `HTTP ${attempt.statusCode}`, options);
}

/**
 * After failed attempt n (saved, still `pending`): queues attempt n+1 and
 * records that on the delivery, or after the last attempt sends the message
 * to the dead-letter queue first and only then marks the delivery
 * `dead-lettered`, together with the endpoint's failure count (one
 * transaction, so a redelivery neither loses nor doubles the count).
 */
async function followUp(
  deps: Deps,
  webhook: WebhookRecord,
  delivery: DeliveryRecord,
  message: WebhookMessage,
  error: string,
  options: DispatchOptions,
): Promise<DispatchOutcome> {
  if (message.attempt < (options.maxAttempts ?? 8)) {
    const delaySeconds = retryDelaySeconds(message.attempt, options.random);
    await deps.queue.send(QueueNames.webhooks, { ...message, attempt: message.attempt + 1 } satisfies WebhookMessage, { delaySeconds });
    // Lost race (the next attempt already ran, or a copy recorded it first): nothing left to record.
    await saveDelivery(deps, delivery, { ...delivery, followUpQueuedFor: message.attempt });
    return { result: "retrying", delaySeconds, error };
  }

  // The dead-letter consumer dedupes by deliveryId: a redelivered copy may send this twice.
  await deps.queue.send(QueueNames.webhooksDeadLetter, { ...message, lastError: error } satisfies WebhookMessage);
  const endpointDisabled = await markDeadLettered(deps, webhook.id, delivery, error, options.disableAfterFailures ?? 5);
  if (endpointDisabled === undefined) return { result: "skipped", reason: `attempt ${message.attempt} already dead-lettered` };
  return { result: "dead-lettered", error, endpointDisabled };
}

/**
 * Marks the delivery `dead-lettered` and counts one failure against its
 * endpoint (disabling it at the threshold), atomically. Returns whether the
 * endpoint was disabled, or undefined when a copy marked the delivery first.
 */
async function markDeadLettered(
  deps: Deps,
  webhookId: string,
  delivery: DeliveryRecord,
  error: string,
  disableAfter: number,
): Promise<boolean | undefined> {
  const now = deps.clock.now();
  const markOp: WriteOp = {
    put: deliveryItem({ ...delivery, status: "dead-lettered", updatedAt: new Date(now).toISOString() }, now),
    condition: { equals: { attemptCount: delivery.attemptCount, status: "pending" } },
  };
  for (let tries = 0; ; tries++) {
    const item = await deps.tables.main.get(webhookKey(webhookId));
    const before = item ? webhookFromItem(item) : undefined;
    const failures = (before?.consecutiveFailures ?? 0) + 1;
    const endpointDisabled = before !== undefined && before.enabled && failures >= disableAfter;
    const ops: WriteOp[] = [markOp];
    if (before) {
      const after: WebhookRecord = {
        ...before,
        consecutiveFailures: failures,
        ...(endpointDisabled
          ? {
              enabled: false,
              disabledAt: new Date(now).toISOString(),
              disabledReason: `${failures} deliveries in a row failed; last error: ${error}`,
            }
          : {}),
      };
      ops.push({ put: webhookItem(after), condition: { equals: { consecutiveFailures: before.consecutiveFailures, enabled: before.enabled } } });
    } else {
      ops.push({ check: webhookKey(webhookId), condition: { notExists: true } });
    }
    try {
      await deps.tables.main.transact(ops);
      return endpointDisabled;
    } catch (e) {
      if (!(e instanceof TransactionCanceledError)) throw e;
      if (e.failedIndexes.includes(0)) return undefined;
      // Only the endpoint changed meanwhile: count again on a fresh read.
      if (tries >= 4) throw e;
    }
  }
}

/** Makes one HTTP attempt through the sender; never throws for network failures, it reports them. */
async function send(deps: Deps, webhook: WebhookRecord, message: WebhookMessage, options: DispatchOptions): Promise<DeliveryAttempt> {
  const startedAt = deps.clock.now();
  const started = performance.now();
  const base = { attempt: message.attempt, at: new Date(startedAt).toISOString() };
  const duration = () => Math.round(performance.now() - started);
  const failed = (error: string): DeliveryAttempt => ({ ...base, error: error.slice(0, 500), durationMs: duration() });
  const allowPrivate = deps.config.allowPrivateWebhookUrls;
  try {
    // Scheme and IP literals are checked here; in the cloud a host name is resolved and checked by the
    // sender's connection itself, so DNS cannot answer differently for check and connect.
    checkWebhookUrlShape(webhook.url, allowPrivate);
  } catch (error) {
    return failed(error instanceof Error ? error.message : String(error));
  }
  const payload = JSON.stringify({ type: message.event.type, timestamp: message.event.occurredAt, data: message.event.data });
  const timestamp = new Date(Math.floor(startedAt / 1000) * 1000);
  const signature = new Signer(webhook.secret).sign(message.deliveryId, timestamp, payload);
  let response: WebhookResponse;
  try {
    response = await deps.webhookSender.send({
      url: webhook.url,
      headers: {
        "content-type": "application/json",
        "user-agent": "ModelFactory-Webhooks/1",
        "webhook-id": message.deliveryId,
        "webhook-timestamp": String(timestamp.getTime() / 1000),
        "webhook-signature": signature,
      },
      body: payload,
      timeoutMs: options.timeoutMs ?? 10_000,
      allowPrivateAddresses: allowPrivate,
    });
  } catch (error) {
    // The port promises not to throw; if a sender does, the attempt still counts as failed, not the message.
    return failed(error instanceof Error ? error.message : String(error));
  }
  if ("error" in response) return failed(response.error);
  const ok = response.statusCode >= 200 && response.statusCode < 300;
  return { ...base, statusCode: response.statusCode, ...(ok ? {} : { error: `HTTP ${response.statusCode}` }), durationMs: duration() };
}

function newDelivery(message: WebhookMessage, now: number): DeliveryRecord {
  const at = new Date(now).toISOString();
  return {
    deliveryId: message.deliveryId,
    webhookId: message.webhookId,
    eventId: message.event.id,
    eventType: message.event.type,
    status: "pending",
    attempts: [],
    attemptCount: 0,
    createdAt: at,
    updatedAt: at,
  };
}

/**
 * Writes the delivery unless someone changed it since we read it (`before`
 * undefined: it did not exist). Returns what was written, or undefined when
 * someone had.
 */
async function saveDelivery(deps: Deps, before: DeliveryRecord | undefined, after: DeliveryRecord): Promise<DeliveryRecord | undefined> {
  const now = deps.clock.now();
  const written = { ...after, updatedAt: new Date(now).toISOString() };
  try {
    await deps.tables.main.put(
      deliveryItem(written, now),
      before ? { equals: { attemptCount: before.attemptCount, status: before.status } } : { notExists: true },
    );
    return written;
  } catch (error) {
    if (error instanceof ConditionFailedError) return undefined;
    throw error;
  }
}

/** Optimistic read-modify-write of an endpoint; `change` returns undefined for no change. */
async function updateEndpoint(deps: Deps, id: string, change: (w: WebhookRecord) => WebhookRecord | undefined): Promise<void> {
  for (let tries = 0; tries < 5; tries++) {
    const item = await deps.tables.main.get(webhookKey(id));
    if (!item) return; // deleted meanwhile
    const before = webhookFromItem(item);
    const after = change(before);
    if (!after) return;
    try {
      await deps.tables.main.put(webhookItem(after), {
        equals: { consecutiveFailures: before.consecutiveFailures, enabled: before.enabled },
      });
      return;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
  }
}
