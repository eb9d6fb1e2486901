import { Webhook as Signer } from "standardwebhooks";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError } from "../errors.ts";
import { QueueNames } from "../ports/queue.ts";
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
import { checkWebhookUrl, type HostResolver } from "./url-policy.ts";

export interface DispatchOptions {
  /** The HTTP client; global fetch by default. */
  fetch?: typeof fetch;
  /** Source of jitter in [0, 1); Math.random by default. */
  random?: () => number;
  /** Attempts per delivery before it is dead-lettered (default 8). */
  maxAttempts?: number;
  /** Deliveries given up on in a row before the endpoint is disabled (default 5). */
  disableAfterFailures?: number;
  /** Per-attempt timeout in milliseconds (default 10 000). */
  timeoutMs?: number;
  /** DNS resolver for the SSRF re-check at send time. */
  resolve?: HostResolver;
}

/** What one dispatch did, for logs and tests. */
export type DispatchOutcome =
  | { result: "delivered"; statusCode: number }
  | { result: "retrying"; delaySeconds: number; error: string }
  | { result: "dead-lettered"; error: string; endpointDisabled: boolean }
  | { result: "skipped"; reason: string };

type Deps = Pick<CoreDeps, "tables" | "queue" | "clock" | "config">;

/**
 * Delivers one webhook message (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature: v1,<base64>`), records the
 * attempt on the delivery, and on failure re-queues it with backoff or, after
 * the last attempt, dead-letters it and counts a failure against the endpoint.
 * A message for a delivery already done, an attempt already made, or an
 * endpoint since deleted is a no-op.
 */
export async function dispatchWebhook(deps: Deps, message: WebhookMessage, options: DispatchOptions = {}): Promise<DispatchOutcome> {
  const maxAttempts = options.maxAttempts ?? 8;
  const webhookItemNow = await deps.tables.main.get(webhookKey(message.webhookId));
  if (!webhookItemNow) return { result: "skipped", reason: "endpoint deleted" };
  const webhook = webhookFromItem(webhookItemNow);

  const existing = await deps.tables.main.get(deliveryKey(message.webhookId, message.deliveryId));
  const stored = existing ? deliveryFromItem(existing) : undefined;
  const delivery = stored ?? newDelivery(message, deps.clock.now());
  if (delivery.status !== "pending") return { result: "skipped", reason: `delivery already ${delivery.status}` };
  if (delivery.attemptCount >= message.attempt) {
    // A redelivered copy of the latest attempt: the crash may have hit before its follow-up was queued.
    if (delivery.attemptCount === message.attempt) await queueRetry(deps, message, options);
    return { result: "skipped", reason: `attempt ${message.attempt} already made` };
  }

  if (!webhook.enabled) {
    await saveDelivery(deps, stored, { ...delivery, status: "failed" });
    return { result: "skipped", reason: "endpoint disabled" };
  }

  const attempt = await send(deps, webhook, message, options);
  const succeeded = attempt.statusCode !== undefined && attempt.statusCode >= 200 && attempt.statusCode < 300;
  const last = !succeeded && message.attempt >= maxAttempts;
  const saved = await saveDelivery(deps, stored, {
    ...delivery,
    status: succeeded ? "succeeded" : last ? "failed" : "pending",
    attempts: [...delivery.attempts, attempt],
    attemptCount: message.attempt,
  });
  if (!saved) return { result: "skipped", reason: `attempt ${message.attempt} recorded concurrently` };

  if (succeeded) {
    await updateEndpoint(deps, webhook.id, (w) => (w.consecutiveFailures === 0 ? undefined : { ...w, consecutiveFailures: 0 }));
    return { result: "delivered", statusCode: attempt.statusCode! };
  }
  const error = attempt.error ?? `HTTP ${attempt.statusCode}`;
  if (!last) {
    const delaySeconds = await queueRetry(deps, message, options);
    return { result: "retrying", delaySeconds, error };
  }

  await deps.queue.send(QueueNames.webhooksDeadLetter, { ...message, lastError: error } satisfies WebhookMessage);
  const disableAfter = options.disableAfterFailures ?? 5;
  let endpointDisabled = false;
  await updateEndpoint(deps, webhook.id, (w) => {
    const failures = w.consecutiveFailures + 1;
    endpointDisabled = w.enabled && failures >= disableAfter;
    return {
      ...w,
      consecutiveFailures: failures,
      ...(endpointDisabled
        ? {
            enabled: false,
            disabledAt: new Date(deps.clock.now()).toISOString(),
            disabledReason: `${failures} deliveries in a row failed; last error: ${error}`,
          }
        : {}),
    };
  });
  return { result: "dead-lettered", error, endpointDisabled };
}

/** Makes one HTTP attempt; never throws for network failures, it reports them. */
async function send(deps: Deps, webhook: WebhookRecord, message: WebhookMessage, options: DispatchOptions): Promise<DeliveryAttempt> {
  const startedAt = deps.clock.now();
  const started = performance.now();
  const base = { attempt: message.attempt, at: new Date(startedAt).toISOString() };
  const duration = () => Math.round(performance.now() - started);
  try {
    if (!deps.config.allowPrivateWebhookUrls) {
      // Checked again at send time: DNS may have changed since the endpoint was registered.
      await checkWebhookUrl(webhook.url, { allowPrivate: false, ...(options.resolve ? { resolve: options.resolve } : {}) });
    }
    const payload = JSON.stringify({ type: message.event.type, timestamp: message.event.occurredAt, data: message.event.data });
    const timestamp = new Date(Math.floor(startedAt / 1000) * 1000);
    const signature = new Signer(webhook.secret).sign(message.deliveryId, timestamp, payload);
    const response = await (options.fetch ?? fetch)(webhook.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "ModelFactory-Webhooks/1",
        "webhook-id": message.deliveryId,
        "webhook-timestamp": String(timestamp.getTime() / 1000),
        "webhook-signature": signature,
      },
      body: payload,
      // A redirect could lead anywhere, including inside the network: it counts as a failure.
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    await response.body?.cancel().catch(() => undefined);
    const ok = response.status >= 200 && response.status < 300;
    return { ...base, statusCode: response.status, ...(ok ? {} : { error: `HTTP ${response.status}` }), durationMs: duration() };
  } catch (error) {
    const reason = error instanceof Error ? (error.name === "TimeoutError" ? "timed out" : error.message) : String(error);
    return { ...base, error: reason.slice(0, 500), durationMs: duration() };
  }
}

async function queueRetry(deps: Deps, message: WebhookMessage, options: DispatchOptions): Promise<number> {
  const delaySeconds = retryDelaySeconds(message.attempt, options.random);
  await deps.queue.send(QueueNames.webhooks, { ...message, attempt: message.attempt + 1 } satisfies WebhookMessage, { delaySeconds });
  return delaySeconds;
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
 * undefined: it did not exist). False when someone did.
 */
async function saveDelivery(deps: Deps, before: DeliveryRecord | undefined, after: DeliveryRecord): Promise<boolean> {
  const now = deps.clock.now();
  try {
    await deps.tables.main.put(
      deliveryItem({ ...after, updatedAt: new Date(now).toISOString() }, now),
      before ? { equals: { attemptCount: before.attemptCount, status: before.status } } : { notExists: true },
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionFailedError) return false;
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
