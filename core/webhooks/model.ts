import { z } from "zod";
import { EventTypes } from "../events.ts";

/**
 * Webhook shapes: the API documents them (`.meta({ id })` names the
 * component) and the use cases in this folder return them.
 */

export const WebhookEventFilter = z.enum([...EventTypes, "*"]).meta({
  id: "WebhookEventFilter",
  description: "An event type, or `*` for every event type",
});

export const CreateWebhookInput = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).max(2048),
    events: z
      .array(WebhookEventFilter)
      .min(1)
      .max(EventTypes.length + 1)
      .refine((events) => new Set(events).size === events.length, "must not repeat an event type"),
  })
  .meta({ id: "CreateWebhookInput" });
export type CreateWebhookInput = z.infer<typeof CreateWebhookInput>;

export const Webhook = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(WebhookEventFilter),
    enabled: z.boolean(),
    createdAt: z.string(),
    /** Set when the dispatcher disabled the endpoint after repeated failures. */
    disabledAt: z.string().optional(),
    disabledReason: z.string().optional(),
  })
  .meta({ id: "Webhook" });
export type Webhook = z.infer<typeof Webhook>;

export const CreatedWebhook = Webhook.extend({
  /** `whsec_` + base64 of 24 random bytes. Shown only in this response. */
  secret: z.string(),
}).meta({ id: "CreatedWebhook" });
export type CreatedWebhook = z.infer<typeof CreatedWebhook>;

export const DeliveryStatus = z.enum(["pending", "succeeded", "dead-lettered", "failed"]).meta({
  id: "DeliveryStatus",
  description:
    "`pending`: attempts still to come; `succeeded`: the endpoint answered 2xx; " +
    "`dead-lettered`: every attempt failed, the message went to the dead-letter queue; " +
    "`failed`: not sent, the endpoint was disabled first",
});
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

export const DeliveryAttempt = z
  .object({
    attempt: z.number().int().positive(),
    /** ISO-8601 instant the attempt started. */
    at: z.string(),
    /** HTTP status the endpoint answered; absent when no answer came (timeout, refused). */
    statusCode: z.number().int().optional(),
    error: z.string().optional(),
    durationMs: z.number().int(),
  })
  .meta({ id: "DeliveryAttempt" });
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;

export const Delivery = z
  .object({
    deliveryId: z.string(),
    webhookId: z.string(),
    eventId: z.string(),
    eventType: z.enum(EventTypes),
    status: DeliveryStatus,
    attempts: z.array(DeliveryAttempt),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Delivery" });
export type Delivery = z.infer<typeof Delivery>;

/** The body of a message on the `webhooks` queue (and, when given up on, `webhooks-dlq`). */
export const WebhookMessage = z.object({
  deliveryId: z.string(),
  webhookId: z.string(),
  event: z.object({
    id: z.string(),
    type: z.enum(EventTypes),
    occurredAt: z.string(),
    audience: z.array(z.string()),
    data: z.record(z.string(), z.unknown()),
  }),
  attempt: z.number().int().positive(),
  /** Only on the dead-letter queue: why the last attempt failed. */
  lastError: z.string().optional(),
});
export type WebhookMessage = z.infer<typeof WebhookMessage>;
