import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { FakeWebhookSender } from "../../test/fakes/fake-webhook-sender.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { eventFromItem, eventWrite, type DomainEvent } from "../events.ts";
import type { Item } from "../ports/tables.ts";
import type { WebhookSender } from "../ports/webhook-sender.ts";
import { dispatchWebhook, type DispatchOptions, type DispatchOutcome } from "./dispatch.ts";
import type { WebhookMessage } from "./model.ts";
import { routeEvent } from "./route-event.ts";
import { createWebhook, getWebhook, listDeliveries } from "./webhooks.ts";

const alice = { address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };

/**
 * Makes `target[method]` throw once, at the first call `when` accepts, as if
 * the worker crashed there; the message is then redelivered by SQS.
 */
function failOnce<T extends object, K extends keyof T>(target: T, method: K, when: (...args: never[]) => boolean) {
  const original = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
  let failed = false;
  (target as Record<K, unknown>)[method] = async (...args: never[]) => {
    if (!failed && when(...args)) {
      failed = true;
      throw new Error("injected crash");
    }
    return original(...args);
  };
}

/** Runs queued `webhooks` messages as the queue would, including what each re-queues; returns the outcomes. */
async function drain(deps: Awaited<ReturnType<typeof setup>>["deps"], first: WebhookMessage[], options: DispatchOptions, between?: (n: number) => Promise<void>) {
  const queue = [...first];
  let taken = deps.queue.on("webhooks").length;
  const outcomes: DispatchOutcome[] = [];
  while (queue.length > 0) {
    outcomes.push(await dispatchWebhook(deps, queue.shift()!, options));
    await between?.(outcomes.length);
    const requeued = deps.queue.on("webhooks").slice(taken);
    taken += requeued.length;
    queue.push(...requeued.map((m) => m.body as WebhookMessage));
  }
  return outcomes;
}

function event(type: DomainEvent["type"], data: Record<string, unknown>, now: number): DomainEvent {
  const op = eventWrite(type, data, [alice.address], now);
  return eventFromItem("put" in op ? op.put : undefined)!;
}

/**
 * An endpoint of alice's whose receiver answers with `answers` in turn (see
 * FakeWebhookSender), and the message routing one event to it puts on the queue.
 */
async function setup(answers: (number | { error: string })[] = [200], url = "http://127.0.0.1:9000/hook") {
  const sender = new FakeWebhookSender(...answers);
  const deps = Object.assign(memoryDeps({ allowPrivateWebhookUrls: true }), { webhookSender: sender as WebhookSender });
  const webhook = await createWebhook(deps, alice, { url, events: ["upload.completed"] });
  const evt = event("upload.completed", { datanetId: "dn_1", uploadId: "up_1", accepted: 7, rejected: 2 }, deps.clock.now());
  await routeEvent(deps, evt);
  const message = deps.queue.on("webhooks")[0]!.body as WebhookMessage;
  deps.queue.sent.length = 0;
  return { deps, webhook, evt, message, received: sender.requests };
}

describe("routeEvent", () => {
  it("queues one message per subscribed, enabled endpoint of the audience, with a stable delivery id", async () => {
    const deps = memoryDeps({ allowPrivateWebhookUrls: true });
    const all = await createWebhook(deps, alice, { url: "http://127.0.0.1:1/a", events: ["*"] });
    await createWebhook(deps, alice, { url: "http://127.0.0.1:1/b", events: ["datanet.created"] });
    await createWebhook(deps, { address: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" }, { url: "http://127.0.0.1:1/c", events: ["*"] });
    const evt = event("upload.completed", { accepted: 1, rejected: 0 }, deps.clock.now());

    const first = await routeEvent(deps, evt);
    const replay = await routeEvent(deps, evt);

    expect(first).toHaveLength(1);
    expect(replay).toEqual(first);
    // The replay (a stream record seen twice) queues nothing more.
    expect(deps.queue.on("webhooks").map((m) => m.body)).toEqual([{ deliveryId: first[0], webhookId: all.id, event: evt, attempt: 1 }]);
    const log = await listDeliveries(deps, alice, all.id);
    expect(log.items).toMatchObject([{ deliveryId: first[0], status: "pending", attempts: [] }]);
  });

  it("queues attempt 1 again on a replay when the first routing died before recording it as sent", async () => {
    // Prepare: the queue is down for the first routing, after the delivery was recorded.
    const deps = memoryDeps({ allowPrivateWebhookUrls: true });
    await createWebhook(deps, alice, { url: "http://127.0.0.1:1/a", events: ["*"] });
    const evt = event("upload.completed", {}, deps.clock.now());
    failOnce(deps.queue, "send", () => true);
    await expect(routeEvent(deps, evt)).rejects.toThrow("injected crash");
    // Act: the stream hands the record over again, twice.
    await routeEvent(deps, evt);
    await routeEvent(deps, evt);
    // Assess
    expect(deps.queue.on("webhooks").map((m) => (m.body as WebhookMessage).attempt)).toEqual([1]);
  });
});

describe("dispatchWebhook", () => {
  it("records a 500, re-queues with a delay, then delivers a signed request on the retry", async () => {
    // Prepare
    const { deps, webhook, evt, message, received } = await setup([500, 200]);

    // Act: first attempt fails
    const first = await dispatchWebhook(deps, message, { random: () => 0.5 });

    // Assess
    expect(first).toEqual({ result: "retrying", delaySeconds: 5, error: "HTTP 500" });
    const [retry] = deps.queue.on("webhooks");
    expect(retry).toEqual({ queue: "webhooks", body: { ...message, attempt: 2 }, delaySeconds: 5 });
    let log = await listDeliveries(deps, alice, webhook.id);
    expect(log.items[0]).toMatchObject({ status: "pending", attempts: [{ attempt: 1, statusCode: 500, error: "HTTP 500" }] });

    // Act: the retry succeeds (at real time, since a receiver checks the signed timestamp against its clock)
    deps.clock.time = Date.now();
    const second = await dispatchWebhook(deps, retry!.body as WebhookMessage);

    // Assess
    expect(second).toEqual({ result: "delivered", statusCode: 200 });
    log = await listDeliveries(deps, alice, webhook.id);
    expect(log.items[0]).toMatchObject({ status: "succeeded", attempts: [{ statusCode: 500 }, { attempt: 2, statusCode: 200 }] });
    expect(received).toHaveLength(2);
    const { url, headers, body, timeoutMs, allowPrivateAddresses } = received[1]!;
    expect({ url, timeoutMs, allowPrivateAddresses }).toEqual({ url: webhook.url, timeoutMs: 10_000, allowPrivateAddresses: true });
    expect(headers).toMatchObject({ "content-type": "application/json", "webhook-id": message.deliveryId });
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // The receiver's side: verify with the secret shown at creation.
    const verified = new Webhook(webhook.secret).verify(body, {
      "webhook-id": headers["webhook-id"]!,
      "webhook-timestamp": headers["webhook-timestamp"]!,
      "webhook-signature": headers["webhook-signature"]!,
    });
    expect(verified).toEqual({ type: "upload.completed", timestamp: evt.occurredAt, data: evt.data });
  });

  it("sends nothing for a duplicate of a delivered message", async () => {
    const { deps, message, received } = await setup([200]);
    expect(await dispatchWebhook(deps, message)).toMatchObject({ result: "delivered" });
    expect(await dispatchWebhook(deps, message)).toEqual({ result: "skipped", reason: "delivery already succeeded" });
    expect(received).toHaveLength(1);
    expect(deps.queue.sent).toEqual([]);
  });

  it("dead-letters after the last attempt and disables an endpoint that keeps failing", async () => {
    const { deps, webhook, message, received } = await setup([503]);
    const options = { maxAttempts: 3, disableAfterFailures: 2, random: () => 0 };

    // Two events, each retried until given up on.
    const second = event("upload.completed", { accepted: 0, rejected: 3 }, deps.clock.now());
    await routeEvent(deps, second);
    const queue = [message, deps.queue.sent.shift()!.body as WebhookMessage];
    const outcomes = [];
    // Act as the queue would: run each message, then whatever it re-queued.
    for (let taken = 0; queue.length > 0; ) {
      outcomes.push(await dispatchWebhook(deps, queue.shift()!, options));
      const requeued = deps.queue.on("webhooks").slice(taken);
      taken += requeued.length;
      queue.push(...requeued.map((m) => m.body as WebhookMessage));
    }

    expect(received).toHaveLength(6);
    expect(outcomes.map((o) => o.result)).toEqual(["retrying", "retrying", "retrying", "retrying", "dead-lettered", "dead-lettered"]);
    // The first give-up counts one failure, the second reaches the threshold.
    expect(outcomes.slice(4).map((o) => "endpointDisabled" in o && o.endpointDisabled)).toEqual([false, true]);
    const dlq = deps.queue.on("webhooks-dlq");
    expect(dlq).toHaveLength(2);
    expect(dlq[0]!.body).toMatchObject({ webhookId: webhook.id, attempt: 3, lastError: "HTTP 503" });
    expect(await getWebhook(deps, alice, webhook.id)).toMatchObject({ enabled: false, disabledReason: expect.stringContaining("2 deliveries") });
    const log = await listDeliveries(deps, alice, webhook.id);
    expect(log.items.map((d) => [d.status, d.attempts.length])).toEqual([["dead-lettered", 3], ["dead-lettered", 3]]);

    // A disabled endpoint gets no more events.
    expect(await routeEvent(deps, event("upload.completed", {}, deps.clock.now()))).toEqual([]);
  });

  it("resets the failure count on a success", async () => {
    const { deps, webhook, message } = await setup([500, 200]);
    const options = { maxAttempts: 1, disableAfterFailures: 2 };
    expect(await dispatchWebhook(deps, message, options)).toMatchObject({ result: "dead-lettered", endpointDisabled: false });
    const next = event("upload.completed", {}, deps.clock.now());
    await routeEvent(deps, next);
    const m2 = deps.queue.on("webhooks").at(-1)!.body as WebhookMessage;
    expect(await dispatchWebhook(deps, m2, options)).toMatchObject({ result: "delivered" });
    const item = await deps.tables.main.get({ pk: `WEBHOOK#${webhook.id}`, sk: "WEBHOOK" });
    expect(item?.consecutiveFailures).toBe(0);
  });

  it("skips a message for a deleted endpoint and a repeated attempt whose follow-up is queued", async () => {
    const { deps, webhook, message, received } = await setup([500]);
    await dispatchWebhook(deps, message, { random: () => 0 });
    // SQS redelivers attempt 1 after its follow-up was queued and recorded: nothing more happens.
    deps.queue.sent.length = 0;
    expect(await dispatchWebhook(deps, message)).toEqual({ result: "skipped", reason: "attempt 1 already made" });
    expect(received).toHaveLength(1);
    expect(deps.queue.sent).toEqual([]);
    await deps.tables.main.delete({ pk: `WEBHOOK#${webhook.id}`, sk: "WEBHOOK" });
    expect(await dispatchWebhook(deps, { ...message, attempt: 2 })).toEqual({ result: "skipped", reason: "endpoint deleted" });
  });

  it("fails a queued delivery without sending once its endpoint is disabled", async () => {
    const { deps, webhook, message, received } = await setup([200]);
    const key = { pk: `WEBHOOK#${webhook.id}`, sk: "WEBHOOK" };
    await deps.tables.main.put({ ...(await deps.tables.main.get(key))!, enabled: false });
    expect(await dispatchWebhook(deps, message)).toEqual({ result: "skipped", reason: "endpoint disabled" });
    expect(received).toHaveLength(0);
    expect((await listDeliveries(deps, alice, webhook.id)).items[0]).toMatchObject({ status: "failed", attempts: [] });
  });

  it("records a connection failure and a timeout as failed attempts, passing its timeout to the sender", async () => {
    // Prepare: a sender that reports no response twice (what UndiciWebhookSender says for ECONNREFUSED and a timeout).
    const { deps, webhook, message, received } = await setup([{ error: "connect ECONNREFUSED 127.0.0.1:9000" }, { error: "timed out" }]);
    // Act
    const refused = await dispatchWebhook(deps, message, { random: () => 0 });
    const timedOut = await dispatchWebhook(deps, { ...message, attempt: 2 }, { timeoutMs: 20, random: () => 0 });
    // Assess
    expect(refused).toMatchObject({ result: "retrying", error: "connect ECONNREFUSED 127.0.0.1:9000" });
    expect(timedOut).toMatchObject({ result: "retrying", error: "timed out" });
    expect(received.map((r) => r.timeoutMs)).toEqual([10_000, 20]);
    const [delivery] = (await listDeliveries(deps, alice, webhook.id)).items;
    expect(delivery!.attempts.map((a) => [a.statusCode, a.error])).toEqual([[undefined, "connect ECONNREFUSED 127.0.0.1:9000"], [undefined, "timed out"]]);
  });

  it("counts a sender that throws as a failed attempt, not a failed message", async () => {
    const { deps, message } = await setup();
    deps.webhookSender = { send: async () => Promise.reject(new Error("sender bug")) };
    expect(await dispatchWebhook(deps, message, { random: () => 0 })).toMatchObject({ result: "retrying", error: "sender bug" });
  });

  it("starts no second retry chain for a replayed stream record or a redelivered copy of the latest attempt", async () => {
    // Prepare: an endpoint that keeps failing.
    const { deps, evt, message, received } = await setup([500]);
    // Act: run the chain; after attempt 1 the stream replays the event, after attempt 2 SQS redelivers it.
    const outcomes = await drain(deps, [message], { maxAttempts: 3, random: () => 0 }, async (n) => {
      if (n === 1) await routeEvent(deps, evt);
      if (n === 2) await deps.queue.send("webhooks", { ...message, attempt: 2 });
    });
    // Assess: three requests in all, one give-up.
    expect(outcomes.map((o) => o.result)).toEqual(["retrying", "retrying", "dead-lettered", "skipped"]);
    expect(received).toHaveLength(3);
    expect(deps.queue.on("webhooks").map((m) => (m.body as WebhookMessage).attempt)).toEqual([2, 3, 2]);
    expect(deps.queue.on("webhooks-dlq")).toHaveLength(1);
  });

  it("queues the follow-up again when its worker died before recording it, and only then", async () => {
    // Prepare: the worker dies right after queueing attempt 2, before recording that on the delivery.
    const { deps, message, received } = await setup([500]);
    failOnce(deps.tables.main, "put", (item: Item) => item.followUpQueuedFor === 1);
    await expect(dispatchWebhook(deps, message, { random: () => 0 })).rejects.toThrow("injected crash");
    // Act: SQS redelivers attempt 1, twice.
    const redelivered = await dispatchWebhook(deps, message, { random: () => 0 });
    const again = await dispatchWebhook(deps, message, { random: () => 0 });
    // Assess: no second request; attempt 2 queued once more, then never again.
    expect(redelivered).toMatchObject({ result: "retrying", error: "HTTP 500" });
    expect(again).toEqual({ result: "skipped", reason: "attempt 1 already made" });
    expect(received).toHaveLength(1);
    const queued = deps.queue.on("webhooks").map((m) => m.body as WebhookMessage);
    expect(queued.map((m) => m.attempt)).toEqual([2, 2]);
    // The two copies of attempt 2 collapse into one chain.
    deps.queue.sent.length = 0;
    const outcomes = await drain(deps, queued, { maxAttempts: 3, random: () => 0 });
    expect(outcomes.map((o) => o.result)).toEqual(["retrying", "skipped", "dead-lettered"]);
    expect(received).toHaveLength(3);
  });

  it("dead-letters before marking the delivery, so a crash before the dead-letter send loses nothing", async () => {
    // Prepare: the dead-letter queue fails once (the worker dies there).
    const { deps, webhook, message, received } = await setup([503]);
    failOnce(deps.queue, "send", (queue: string) => queue === "webhooks-dlq");
    await expect(dispatchWebhook(deps, message, { maxAttempts: 1 })).rejects.toThrow("injected crash");
    expect((await listDeliveries(deps, alice, webhook.id)).items[0]).toMatchObject({ status: "pending", attempts: [{ statusCode: 503 }] });
    // Act: SQS redelivers the message.
    const outcome = await dispatchWebhook(deps, message, { maxAttempts: 1 });
    // Assess: dead-lettered without a second request, counted once.
    expect(outcome).toEqual({ result: "dead-lettered", error: "HTTP 503", endpointDisabled: false });
    expect(received).toHaveLength(1);
    expect(deps.queue.on("webhooks-dlq").map((m) => m.body)).toEqual([{ ...message, lastError: "HTTP 503" }]);
    expect((await listDeliveries(deps, alice, webhook.id)).items[0]).toMatchObject({ status: "dead-lettered" });
    expect((await deps.tables.main.get({ pk: `WEBHOOK#${webhook.id}`, sk: "WEBHOOK" }))?.consecutiveFailures).toBe(1);
  });

  it("re-sends to the dead-letter queue when the worker died before marking, and counts the failure once", async () => {
    // Prepare: the write that marks the delivery and counts the failure fails once.
    const { deps, webhook, message } = await setup([503]);
    failOnce(deps.tables.main, "transact", () => true);
    await expect(dispatchWebhook(deps, message, { maxAttempts: 1 })).rejects.toThrow("injected crash");
    // Act: SQS redelivers the message, twice.
    const redelivered = await dispatchWebhook(deps, message, { maxAttempts: 1 });
    const again = await dispatchWebhook(deps, message, { maxAttempts: 1 });
    // Assess: the dead-letter message went twice (its consumer dedupes by deliveryId), the count once.
    expect(redelivered).toMatchObject({ result: "dead-lettered" });
    expect(again).toEqual({ result: "skipped", reason: "delivery already dead-lettered" });
    expect(deps.queue.on("webhooks-dlq").map((m) => (m.body as WebhookMessage).deliveryId)).toEqual([message.deliveryId, message.deliveryId]);
    expect((await listDeliveries(deps, alice, webhook.id)).items[0]).toMatchObject({ status: "dead-lettered" });
    expect((await deps.tables.main.get({ pk: `WEBHOOK#${webhook.id}`, sk: "WEBHOOK" }))?.consecutiveFailures).toBe(1);
  });

  it("refuses a private IP literal at send time in the cloud, without calling the sender", async () => {
    const { deps, message, received } = await setup([200], "https://[::ffff:0:7f00:1]/x");
    deps.config.allowPrivateWebhookUrls = false;
    const outcome = await dispatchWebhook(deps, message, { random: () => 0 });
    expect(outcome).toMatchObject({ result: "retrying", error: expect.stringContaining("refused") });
    expect(received).toEqual([]);
  });

  it("asks the sender for a connection pinned to public addresses in the cloud", async () => {
    const { deps, message, received } = await setup([200], "https://hooks.example.com/x");
    deps.config.allowPrivateWebhookUrls = false;
    expect(await dispatchWebhook(deps, message)).toMatchObject({ result: "delivered" });
    expect(received.map((r) => [r.url, r.allowPrivateAddresses])).toEqual([["https://hooks.example.com/x", false]]);
  });
});
