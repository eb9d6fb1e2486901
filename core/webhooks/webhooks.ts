import { randomBytes } from "node:crypto";
import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import { newId } from "../ids.ts";
import type { Paged } from "../datanets/model.ts";
import {
  deliveryFromItem,
  publicDelivery,
  publicWebhook,
  webhookFromItem,
  webhookItem,
  webhookKey,
  type WebhookRecord,
} from "./items.ts";
import { CreateWebhookInput, type CreatedWebhook, type Delivery, type Webhook } from "./model.ts";
import { checkWebhookUrl, type HostResolver } from "./url-policy.ts";

/** At most this many endpoints per account. */
export const MAX_WEBHOOKS_PER_ACCOUNT = 20;

export interface WebhookOptions {
  /** DNS resolver for the SSRF check; required where private URLs are refused (the cloud). */
  resolve?: HostResolver;
}

type Deps = Pick<CoreDeps, "tables" | "clock" | "config">;

/**
 * Registers a webhook endpoint for the caller. The returned `secret`
 * (`whsec_` + base64 of 24 random bytes) is shown only here.
 * Throws `unsafe-webhook-url` (400) for URLs the SSRF policy refuses.
 */
export async function createWebhook(
  deps: Deps,
  caller: Caller,
  input: CreateWebhookInput,
  options: WebhookOptions = {},
): Promise<CreatedWebhook> {
  const parsed = CreateWebhookInput.safeParse(input);
  if (!parsed.success) throw new ValidationError("Invalid webhook", parsed.error.issues);
  const { url, events } = parsed.data;
  await checkWebhookUrl(url, {
    allowPrivate: deps.config.allowPrivateWebhookUrls,
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });

  const existing = await deps.tables.main.query({ pk: `ACCOUNT#${caller.address}`, index: "gsi1", skPrefix: "WEBHOOK#", limit: MAX_WEBHOOKS_PER_ACCOUNT });
  if (existing.items.length >= MAX_WEBHOOKS_PER_ACCOUNT) {
    throw new ConflictError(`An account may have at most ${MAX_WEBHOOKS_PER_ACCOUNT} webhooks`, "too-many-webhooks");
  }

  const now = deps.clock.now();
  const record: WebhookRecord = {
    id: newId("wh", now),
    owner: caller.address,
    url,
    events,
    secret: `whsec_${randomBytes(24).toString("base64")}`,
    enabled: true,
    consecutiveFailures: 0,
    createdAt: new Date(now).toISOString(),
  };
  await deps.tables.main.put(webhookItem(record), { notExists: true });
  return { ...publicWebhook(record), secret: record.secret };
}

/** The caller's webhook endpoints, without their secrets. */
export async function listWebhooks(deps: Deps, caller: Caller, { cursor }: { cursor?: string } = {}): Promise<Paged<Webhook>> {
  const page = await deps.tables.main.query({
    pk: `ACCOUNT#${caller.address}`,
    index: "gsi1",
    skPrefix: "WEBHOOK#",
    limit: 100,
    ...(cursor ? { cursor } : {}),
  });
  return {
    items: page.items.map((i) => publicWebhook(webhookFromItem(i))),
    ...(page.cursor ? { nextCursor: page.cursor } : {}),
  };
}

/** One of the caller's endpoints; another account's is reported as not found. */
export async function getWebhook(deps: Deps, caller: Caller, id: string): Promise<Webhook> {
  return publicWebhook(await ownWebhook(deps, caller, id));
}

/** Deletes one of the caller's endpoints; queued deliveries to it are then dropped. */
export async function deleteWebhook(deps: Deps, caller: Caller, id: string): Promise<void> {
  await ownWebhook(deps, caller, id);
  await deps.tables.main.delete(webhookKey(id));
}

/**
 * Enables one of the caller's endpoints again, typically after the
 * dispatcher disabled it for failing: its failure count starts from 0 and
 * the disable reason goes. The URL is checked again under today's SSRF
 * policy and DNS, which may both have changed since it was registered.
 * Deliveries marked `failed` while it was disabled are not re-sent; events
 * from now on are. Enabling an enabled endpoint only resets its count.
 */
export async function enableWebhook(deps: Deps, caller: Caller, id: string, options: WebhookOptions = {}): Promise<Webhook> {
  const { url } = await ownWebhook(deps, caller, id);
  await checkWebhookUrl(url, { allowPrivate: deps.config.allowPrivateWebhookUrls, ...(options.resolve ? { resolve: options.resolve } : {}) });
  // Optimistic, like the dispatcher's own writes: a failure counted meanwhile makes us read again.
  for (let tries = 0; tries < 5; tries++) {
    const before = await ownWebhook(deps, caller, id);
    const { disabledAt: _at, disabledReason: _why, ...rest } = before;
    const after: WebhookRecord = { ...rest, enabled: true, consecutiveFailures: 0 };
    try {
      await deps.tables.main.put(webhookItem(after), { equals: { consecutiveFailures: before.consecutiveFailures, enabled: before.enabled } });
      return publicWebhook(after);
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
  }
  throw new ConflictError("The webhook kept changing while it was being enabled; try again", "webhook-busy");
}

/** Delivery attempts to one of the caller's endpoints, newest first. */
export async function listDeliveries(
  deps: Deps,
  caller: Caller,
  webhookId: string,
  { cursor, limit = 50 }: { cursor?: string; limit?: number } = {},
): Promise<Paged<Delivery>> {
  await ownWebhook(deps, caller, webhookId);
  const page = await deps.tables.main.query({
    pk: `DELIVERIES#${webhookId}`,
    index: "gsi1",
    reverse: true,
    limit: Math.min(Math.max(limit, 1), 100),
    ...(cursor ? { cursor } : {}),
  });
  return {
    items: page.items.map((i) => publicDelivery(deliveryFromItem(i))),
    ...(page.cursor ? { nextCursor: page.cursor } : {}),
  };
}

async function ownWebhook(deps: Deps, caller: Caller, id: string): Promise<WebhookRecord> {
  const item = await deps.tables.main.get(webhookKey(id));
  // Someone else's endpoint answers like a missing one, so ids cannot be probed.
  if (!item || item.owner !== caller.address) throw new NotFoundError("Webhook");
  return webhookFromItem(item);
}
